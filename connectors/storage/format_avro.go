package storage

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/linkedin/goavro/v2"

	"github.com/weirlog/weir/plugins"
)

// AvroCodecConfig is Confluent's key for the codec of Avro files.
const AvroCodecConfig = "avro.codec"

var avroCodecKey = plugins.ConfigKey{Name: AvroCodecConfig, Type: plugins.ConfigString, Default: "null", Importance: plugins.Low,
	Validator: plugins.ValidatorFunc("[null, deflate, snappy]", func(name string, v any) error {
		s, _ := v.(string)
		if err := avroCodecSupported(s); err != nil {
			return err
		}
		return plugins.OneOfIgnoreCase(avroCodecs...).Validate(name, v)
	}),
	Recommended: avroCodecs,
	Documentation: "AvroFormat: the codec of the file blocks: null, deflate or snappy. zstandard, bzip2 and xz are not supported: " +
		"goavro, which writes the Avro container, has none of them (for smaller files use deflate, or the Parquet format with parquet.codec zstd)"}

var avroCodecs = []string{goavro.CompressionNullLabel, goavro.CompressionDeflateLabel, goavro.CompressionSnappyLabel}

// avroCodecSupported says why zstandard, a codec Avro knows, is refused.
func avroCodecSupported(name string) error {
	switch strings.ToLower(name) {
	case "zstandard", "zstd":
		return fmt.Errorf("avro codec %q is not supported: goavro, which writes the Avro container, has no zstandard; "+
			"use snappy or deflate (or the Parquet format, whose parquet.codec has zstd)", name)
	}
	return nil
}

// avroBlockSize is the encoded size at which a block is closed; Avro
// Java's default sync interval.
const avroBlockSize = 64 << 10

// AvroFormat writes Avro object container files (Confluent's AvroFormat,
// extension .avro) with the schema mapped from each record's Connect
// value schema (see format_avro_data.go). A record without a schema is
// refused; a file holds records of one schema (SchemaBound).
//
// goavro writes the container (its OCFWriter); records are gathered here
// into blocks of about avroBlockSize, because the OCFWriter makes a block
// of every Append.
func AvroFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	name := strings.ToLower(p.String(AvroCodecConfig))
	switch name {
	case goavro.CompressionNullLabel, goavro.CompressionDeflateLabel, goavro.CompressionSnappyLabel:
	default:
		if err := avroCodecSupported(name); err != nil {
			return nil, fmt.Errorf("%s: %w", AvroCodecConfig, err)
		}
		return nil, fmt.Errorf("%s %q is not supported (null, deflate, snappy)", AvroCodecConfig, name)
	}
	return &avroFormat{codec: name}, nil
}

type avroFormat struct {
	codec string
	cache schemaCache[*avroCompiled]
}

// avroCompiled is one Connect schema ready to write.
type avroCompiled struct {
	m     *avroMapping
	codec *goavro.Codec
}

func (f *avroFormat) Ext() string { return ".avro" }

func (f *avroFormat) NewWriter(w io.Writer) RecordWriter { return &avroWriter{f: f, w: w} }

func (f *avroFormat) compile(s *plugins.Schema) (*avroCompiled, error) {
	return f.cache.get(s, func() (*avroCompiled, error) {
		m, err := mapAvro(s)
		if err != nil {
			return nil, err
		}
		c, err := goavro.NewCodec(m.schemaJSON)
		if err != nil {
			return nil, fmt.Errorf("the Connect schema maps to an Avro schema Avro rejects (names must match [A-Za-z_][A-Za-z0-9_]*): %w", err)
		}
		return &avroCompiled{m: m, codec: c}, nil
	})
}

type avroWriter struct {
	f       *avroFormat
	w       io.Writer
	schema  *plugins.Schema // of the file; nil before the first record
	c       *avroCompiled
	ocf     *goavro.OCFWriter
	pending []any  // datums of the open block
	size    int    // their encoded bytes
	scratch []byte // a datum encoded to check it
	err     error  // a failed write to w: the file is broken
}

// SameSchema: a record without a schema fits anywhere, so that it fails
// on its own (to the DLQ) instead of closing the file.
func (a *avroWriter) SameSchema(rec *plugins.Record) bool {
	return a.schema == nil || rec.ValueSchema == nil || sameSchema(a.schema, rec.ValueSchema)
}

func (a *avroWriter) Write(rec *plugins.Record) error {
	if a.err != nil {
		return a.err
	}
	if rec.ValueSchema == nil {
		return fmt.Errorf("avro format: %w", errSchemaless)
	}
	c := a.c
	if a.schema == nil {
		var err error
		if c, err = a.f.compile(rec.ValueSchema); err != nil {
			return fmt.Errorf("avro format: %w", err)
		}
	} else if !sameSchema(a.schema, rec.ValueSchema) {
		return fmt.Errorf("avro format: %w", errSchemaChanged)
	}
	v, err := c.m.conv(rec.Value)
	if err != nil {
		return fmt.Errorf("avro format: the value does not match its schema: %w", err)
	}
	// Encode once here so that a value Avro refuses fails this record
	// (to the DLQ) and not the Append of its block.
	b, err := c.codec.BinaryFromNative(a.scratch[:0], v)
	if err != nil {
		return fmt.Errorf("avro format: encode: %w", err)
	}
	a.scratch = b
	if a.ocf == nil {
		ocf, err := goavro.NewOCFWriter(goavro.OCFConfig{W: a.w, Codec: c.codec, CompressionName: a.f.codec})
		if err != nil {
			a.err = fmt.Errorf("avro format: start the file: %w", err)
			return a.err
		}
		a.ocf, a.schema, a.c = ocf, rec.ValueSchema, c
	}
	a.pending = append(a.pending, v)
	a.size += len(b)
	if a.size >= avroBlockSize {
		return a.flush()
	}
	return nil
}

// flush writes the pending datums as one block.
func (a *avroWriter) flush() error {
	if len(a.pending) == 0 {
		return nil
	}
	err := a.ocf.Append(a.pending)
	clear(a.pending) // let the values go
	a.pending, a.size = a.pending[:0], 0
	if err != nil {
		a.err = fmt.Errorf("avro format: write a block: %w", err)
		return a.err
	}
	return nil
}

func (a *avroWriter) Close() error {
	if a.ocf == nil {
		return nil
	}
	err := a.err
	if err == nil {
		err = a.flush()
	}
	if err != nil {
		return fmt.Errorf("avro format: finish the file: %w", err)
	}
	return nil
}

// schemaCache keeps the last few compiled schemas of a format. Converters
// with schemas often hand each record its own (equal) *Schema, so lookups
// compare by value after a pointer check.
type schemaCache[T any] struct {
	mu      sync.Mutex
	entries []cacheEntry[T]
}

type cacheEntry[T any] struct {
	s *plugins.Schema
	v T
}

const schemaCacheSize = 8

func (c *schemaCache[T]) get(s *plugins.Schema, build func() (T, error)) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if sameSchema(e.s, s) {
			if i > 0 { // most recent first
				copy(c.entries[1:i+1], c.entries[:i])
				c.entries[0] = e
			}
			return e.v, nil
		}
	}
	v, err := build()
	if err != nil {
		return v, err
	}
	if len(c.entries) < schemaCacheSize {
		c.entries = append(c.entries, cacheEntry[T]{})
	}
	copy(c.entries[1:], c.entries[:len(c.entries)-1])
	c.entries[0] = cacheEntry[T]{s: s, v: v}
	return v, nil
}

func sameSchema(a, b *plugins.Schema) bool { return a == b || a.Equal(b) }
