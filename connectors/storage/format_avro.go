package storage

import (
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/weirlog/weir/plugins"
)

// AvroCodecConfig is Confluent's key for the codec of Avro files.
const AvroCodecConfig = "avro.codec"

// avroCodecs maps the accepted avro.codec values to hamba's codecs.
// Confluent also accepts bzip2 and xz, which hamba/avro does not write.
var avroCodecs = map[string]ocf.CodecName{
	"null": ocf.Null, "deflate": ocf.Deflate, "snappy": ocf.Snappy, "zstandard": ocf.ZStandard, "zstd": ocf.ZStandard,
}

var avroCodecKey = plugins.ConfigKey{Name: AvroCodecConfig, Type: plugins.ConfigString, Default: "null", Importance: plugins.Low,
	Validator:     plugins.OneOfIgnoreCase("null", "deflate", "snappy", "zstandard", "zstd"),
	Documentation: "AvroFormat: the codec of the file blocks: null, deflate, snappy or zstandard (bzip2 and xz are not supported)"}

// avroBlockSize is the uncompressed size at which a block is closed; Avro
// Java's default sync interval.
const avroBlockSize = 64 << 10

// AvroFormat writes Avro object container files (Confluent's AvroFormat,
// extension .avro) with the schema mapped from each record's Connect
// value schema (see format_avro_data.go). A record without a schema is
// refused; a file holds records of one schema (SchemaBound).
func AvroFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	name := strings.ToLower(p.String(AvroCodecConfig))
	codec, ok := avroCodecs[name]
	if !ok {
		return nil, fmt.Errorf("%s %q is not supported (null, deflate, snappy, zstandard)", AvroCodecConfig, name)
	}
	return &avroFormat{codec: codec}, nil
}

type avroFormat struct {
	codec ocf.CodecName
	// zstd keeps encoders between files: hamba would build one (window
	// buffers, goroutines) per file, which cost 10x the encoding itself.
	// A writer holds one from its first record to Close, so writers of
	// the same format may run in parallel.
	zstd  sync.Pool
	cache schemaCache[*avroCompiled]
}

// avroCompiled is one Connect schema ready to write.
type avroCompiled struct {
	m      *avroMapping
	schema avro.Schema
}

func (f *avroFormat) Ext() string { return ".avro" }

func (f *avroFormat) NewWriter(w io.Writer) RecordWriter { return &avroWriter{f: f, w: w} }

func (f *avroFormat) compile(s *plugins.Schema) (*avroCompiled, error) {
	return f.cache.get(s, func() (*avroCompiled, error) {
		m, err := mapAvro(s)
		if err != nil {
			return nil, err
		}
		// A cache per schema: record names (ConnectDefault, MapEntry) are
		// reused by unrelated schemas, which a shared cache would mix up.
		as, err := avro.ParseWithCache(m.schemaJSON, "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("the Connect schema maps to an Avro schema Avro rejects (names must match [A-Za-z_][A-Za-z0-9_]*): %w", err)
		}
		return &avroCompiled{m: m, schema: as}, nil
	})
}

type avroWriter struct {
	f      *avroFormat
	w      io.Writer
	schema *plugins.Schema // of the file; nil before the first record
	c      *avroCompiled
	enc    *ocf.Encoder
	zstd   *zstd.Encoder // from f.zstd, returned at Close
}

// SameSchema: a record without a schema fits anywhere, so that it fails
// on its own (to the DLQ) instead of closing the file.
func (a *avroWriter) SameSchema(rec *plugins.Record) bool {
	return a.schema == nil || rec.ValueSchema == nil || sameSchema(a.schema, rec.ValueSchema)
}

func (a *avroWriter) Write(rec *plugins.Record) error {
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
	// Encode apart first: a value hamba refuses half-way must not leave
	// half a datum in the block.
	b, err := avro.Marshal(c.schema, v)
	if err != nil {
		return fmt.Errorf("avro format: encode: %w", err)
	}
	if a.enc == nil {
		opts := []ocf.EncoderFunc{ocf.WithCodec(a.f.codec), ocf.WithBlockLength(0), ocf.WithBlockSize(avroBlockSize),
			ocf.WithSchemaMarshaler(ocf.FullSchemaMarshaler)}
		if a.f.codec == ocf.ZStandard {
			z, _ := a.f.zstd.Get().(*zstd.Encoder)
			if z == nil {
				if z, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
					return fmt.Errorf("avro format: zstandard: %w", err)
				}
			}
			a.zstd = z
			opts = append(opts, ocf.WithZStandardEncoder(z))
		}
		enc, err := ocf.NewEncoderWithSchema(c.schema, a.w, opts...)
		if err != nil {
			return fmt.Errorf("avro format: start the file: %w", err)
		}
		a.enc, a.schema, a.c = enc, rec.ValueSchema, c
	}
	if _, err := a.enc.Write(b); err != nil {
		return fmt.Errorf("avro format: write a block: %w", err)
	}
	return nil
}

func (a *avroWriter) Close() error {
	if a.enc == nil {
		return nil
	}
	err := a.enc.Close()
	if a.zstd != nil {
		a.f.zstd.Put(a.zstd)
		a.zstd = nil
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
