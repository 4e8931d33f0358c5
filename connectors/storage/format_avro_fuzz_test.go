package storage

import (
	"bytes"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

// FuzzSchemaFormats: a record's schema and value come from Kafka, so
// untrusted bytes (here through the JSON converter with schemas) must
// never panic the Avro or Parquet writer, and whatever they accept must
// make a file their readers decode.
func FuzzSchemaFormats(f *testing.F) {
	for _, s := range []string{
		`{"schema":{"type":"struct","fields":[{"field":"a","type":"int32"},{"field":"b","type":"string","optional":true}]},"payload":{"a":1,"b":null}}`,
		`{"schema":{"type":"struct","name":"x.Y","fields":[{"field":"m","type":"map","keys":{"type":"int8"},"values":{"type":"array","items":{"type":"float64","optional":true}}}]},"payload":{"m":[[1,[1.5,null]]]}}`,
		`{"schema":{"type":"struct","fields":[{"field":"d","type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"3"}},{"field":"t","type":"int64","name":"org.apache.kafka.connect.data.Timestamp"}]},"payload":{"d":"AeI=","t":5}}`,
		`{"schema":{"type":"struct","fields":[{"field":"s","type":"struct","optional":true,"fields":[{"field":"i","type":"int16"}]},{"field":"e","type":"struct","fields":[]}]},"payload":{"s":{"i":2},"e":{}}}`,
		`{"schema":{"type":"string"},"payload":"x"}`,
		`{"schema":{"type":"struct","fields":[{"field":"","type":"boolean"}]},"payload":{"":true}}`,
	} {
		f.Add([]byte(s))
	}
	conv := jsonconv.NewJSONConverter()
	if err := conv.Configure(plugins.Config{"schemas.enable": "true"}, false); err != nil {
		f.Fatal(err)
	}
	avroF := parseFormat(f, AvroFormat, plugins.Config{"avro.codec": "null"})
	parquetF := parseFormat(f, ParquetFormat, plugins.Config{"parquet.codec": "none"})
	f.Fuzz(func(t *testing.T, data []byte) {
		s, v, err := conv.ToConnect("t", data)
		if err != nil || s == nil || v == nil {
			return
		}
		r := rec(0, s, v)
		for name, fm := range map[string]Format{"avro": avroF, "parquet": parquetF} {
			var buf bytes.Buffer
			w := fm.NewWriter(&buf)
			if err := w.Write(r); err != nil {
				continue
			}
			if err := w.Write(r); err != nil {
				t.Fatalf("%s: a record written once fails the second time: %v", name, err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("%s: close: %v", name, err)
			}
			switch name {
			case "avro":
				_, out, err := readAvro(buf.Bytes())
				if err != nil || len(out) != 2 {
					t.Fatalf("avro: %d records, %v", len(out), err)
				}
			case "parquet":
				pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
				if err != nil {
					t.Fatalf("parquet: the file does not open: %v", err)
				}
				rows := make([]parquet.Row, 4)
				rr := parquet.NewReader(bytes.NewReader(buf.Bytes()), pf.Schema())
				n, _ := rr.ReadRows(rows)
				if n != 2 {
					t.Fatalf("parquet: %d rows, want 2", n)
				}
			}
		}
	})
}
