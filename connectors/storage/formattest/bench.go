package formattest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/weirlog/weir/plugins"
)

// BenchSchema is the value schema of the Parquet throughput rows (make
// bench-connectors): an id and a padding text.
var BenchSchema = plugins.StructBuilder().Name("bench.Event").
	Field("id", plugins.Int64Schema).Field("payload", plugins.StringSchema).MustBuild()

var benchEpoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// BenchRecord is record i of a Parquet throughput run; pad makes it about
// 1 KiB.
func BenchRecord(i int, pad string) plugins.Record {
	return plugins.Record{
		Key: fmt.Sprintf("k%d", i), KeySchema: plugins.StringSchema,
		Value:       plugins.NewStruct(BenchSchema).MustPut("id", int64(i)).MustPut("payload", pad),
		ValueSchema: BenchSchema, Timestamp: benchEpoch.Add(time.Duration(i) * time.Millisecond),
	}
}

// BenchID is the number of a BenchRecord read back.
func BenchID(r plugins.Record) (int, bool) {
	st, ok := r.Value.(*plugins.Struct)
	if !ok || !st.Has("id") {
		return 0, false
	}
	id, ok := st.Get("id").(int64)
	return int(id), ok
}

// ParquetRecords decodes a file of BenchRecords (with parquet-go: the
// throughput row polls the files every 200 ms, too often for Python).
func ParquetRecords(b []byte) ([]plugins.Record, error) {
	f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	r := parquet.NewGenericReader[map[string]any](bytes.NewReader(b), f.Schema())
	defer r.Close()
	rows := make([]map[string]any, 256)
	var out []plugins.Record
	for {
		for i := range rows {
			rows[i] = map[string]any{}
		}
		n, err := r.Read(rows)
		for _, row := range rows[:n] {
			id, ok1 := row["id"].(int64)
			pad, ok2 := row["payload"].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("row %v is not a bench record", row)
			}
			out = append(out, plugins.Record{Value: plugins.NewStruct(BenchSchema).MustPut("id", id).MustPut("payload", pad), ValueSchema: BenchSchema})
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
