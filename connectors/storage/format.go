package storage

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/weirlog/weir/plugins"
	"github.com/weirlog/weir/plugins/converters/jsonconv"
)

// Format turns records into the bytes of one file.
type Format interface {
	// Ext is the file name's extension, with its dot (".json.gz").
	Ext() string
	// NewWriter starts a file written to w.
	NewWriter(w io.Writer) RecordWriter
}

// RecordWriter writes the records of one file; Close finishes the file
// (trailers, compression) without closing the underlying writer.
type RecordWriter interface {
	Write(rec *plugins.Record) error
	Close() error
}

// errSchemaless marks a record a schema-based format cannot write.
var errSchemaless = errors.New("the format needs a Connect schema and the record has none (use a converter with schemas)")

// errSchemaChanged is returned by a SchemaBound writer given a record of
// another schema (the writer core rolls a new file before that happens).
var errSchemaChanged = errors.New("the record's schema differs from the schema of the open file")

// SchemaBound is implemented by the writers of formats whose files carry
// one schema (Avro, Parquet).
type SchemaBound interface {
	// SameSchema reports whether rec may join the file without changing
	// its schema: true while the file is empty and for a record without
	// a schema (which then fails on its own rather than closing the file).
	SameSchema(rec *plugins.Record) bool
}

// SchemaChanged reports whether rec needs a new file because w's file is
// bound to another schema; the writer core commits the open file first.
func SchemaChanged(w RecordWriter, rec *plugins.Record) bool {
	sb, ok := w.(SchemaBound)
	return ok && !sb.SameSchema(rec)
}

// JSONFormat writes one bare JSON value per line, as Confluent's
// JsonFormat does (schemas are not written).
func JSONFormat(_ *plugins.ParsedConfig, gz bool) (Format, error) {
	c := jsonconv.NewJSONConverter()
	if err := c.Configure(plugins.Config{"schemas.enable": "false"}, false); err != nil {
		return nil, fmt.Errorf("json format: %w", err)
	}
	return jsonFormat{c: c, gzip: gz}, nil
}

type jsonFormat struct {
	c    *jsonconv.JSONConverter
	gzip bool
}

func (f jsonFormat) Ext() string {
	if f.gzip {
		return ".json.gz"
	}
	return ".json"
}

func (f jsonFormat) NewWriter(w io.Writer) RecordWriter {
	jw := &jsonWriter{c: f.c, w: w}
	if f.gzip {
		jw.gz = gzip.NewWriter(w)
		jw.w = jw.gz
	}
	return jw
}

type jsonWriter struct {
	c    *jsonconv.JSONConverter
	w    io.Writer
	gz   *gzip.Writer
	line []byte // one record's line, reused for the next: no allocation per record
}

func (j *jsonWriter) Write(rec *plugins.Record) error {
	if raw, ok := rec.Value.(plugins.RawJSON); ok {
		// Passed through by the runtime (Task.AcceptsRawJSON): the
		// converter checked that it is what the line below would hold.
		if _, err := j.w.Write(raw); err != nil {
			return err
		}
		_, err := j.w.Write(newline)
		return err
	}
	b := j.line[:0]
	if rec.ValueSchema == nil && rec.Value == nil {
		b = append(b, "null"...)
	} else {
		var err error
		if b, err = j.c.AppendFromConnect(b, rec.Topic, rec.ValueSchema, rec.Value); err != nil {
			return fmt.Errorf("json format: %w", err)
		}
	}
	b = append(b, '\n')
	j.line = b
	_, err := j.w.Write(b)
	return err
}

var newline = []byte{'\n'}

func (j *jsonWriter) Close() error {
	if j.gz != nil {
		return j.gz.Close()
	}
	return nil
}

// ByteArrayFormat writes the raw value bytes followed by
// format.bytearray.separator (Confluent's ByteArrayFormat; use it with the
// ByteArrayConverter).
func ByteArrayFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	return rawFormat{sep: []byte(p.String(ByteArraySeparatorConfig)), ext: p.String(ByteArrayExtConfig), bytesOnly: true}, nil
}

// StringFormat writes the value's text, one per line (the HDFS sink's
// StringFormat, extension .txt).
func StringFormat(_ *plugins.ParsedConfig, _ bool) (Format, error) {
	return rawFormat{sep: []byte("\n"), ext: ".txt"}, nil
}

type rawFormat struct {
	sep       []byte
	ext       string
	bytesOnly bool
}

func (f rawFormat) Ext() string { return f.ext }

func (f rawFormat) NewWriter(w io.Writer) RecordWriter { return &rawWriter{f: f, w: w} }

type rawWriter struct {
	f rawFormat
	w io.Writer
}

func (r *rawWriter) Write(rec *plugins.Record) error {
	var b []byte
	switch v := rec.Value.(type) {
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		if r.f.bytesOnly {
			return fmt.Errorf("bytearray format: the value is %T, not bytes (use org.apache.kafka.connect.converters.ByteArrayConverter)", rec.Value)
		}
		b = []byte(plugins.ValueString(rec.Value))
	}
	if _, err := r.w.Write(b); err != nil {
		return err
	}
	_, err := r.w.Write(r.f.sep)
	return err
}

func (r *rawWriter) Close() error { return nil }
