package storage

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/linkedin/goavro/v2"

	"github.com/weirlog/weir/plugins"
)

// AvroCodecConfig is Confluent's key for the codec of Avro files.
const AvroCodecConfig = "avro.codec"

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
//
// goavro encodes the datums; the container (header, blocks, codecs) is
// written here, because goavro's OCF writer has no zstandard and makes a
// block of every Append.
func AvroFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	name := strings.ToLower(p.String(AvroCodecConfig))
	switch name {
	case "zstd":
		name = "zstandard"
	case "null", "deflate", "snappy", "zstandard":
	default:
		return nil, fmt.Errorf("%s %q is not supported (null, deflate, snappy, zstandard)", AvroCodecConfig, name)
	}
	return &avroFormat{codec: name}, nil
}

type avroFormat struct {
	codec string
	// zstd keeps encoders between files: one per file (window buffers,
	// goroutines) would cost more than the encoding itself. A writer
	// holds one from its first block to Close, so writers of the same
	// format may run in parallel.
	zstd  sync.Pool
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
		c, err := goavro.NewCodec(m.encodeJSON)
		if err != nil {
			return nil, fmt.Errorf("the Connect schema maps to an Avro schema Avro rejects (names must match [A-Za-z_][A-Za-z0-9_]*): %w", err)
		}
		return &avroCompiled{m: m, codec: c}, nil
	})
}

type avroWriter struct {
	f      *avroFormat
	w      io.Writer
	schema *plugins.Schema // of the file; nil before the first record
	c      *avroCompiled
	sync   [16]byte
	block  []byte // datums of the open block
	count  int    // datums in block
	out    []byte // scratch for a block's frame
	zbuf   []byte // a compressed block
	flate  *flate.Writer
	zstd   *zstd.Encoder // from f.zstd, returned at Close
	err    error         // a failed write to w: the file is broken
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
	// Encode onto the block, and cut back what a refused value left.
	n := len(a.block)
	b, err := c.codec.BinaryFromNative(a.block, v)
	if err != nil {
		a.block = a.block[:n]
		return fmt.Errorf("avro format: encode: %w", err)
	}
	if a.schema == nil {
		if err := a.header(c); err != nil {
			a.block = a.block[:n]
			return err
		}
		a.schema, a.c = rec.ValueSchema, c
	}
	a.block = b
	a.count++
	if len(a.block) >= avroBlockSize {
		return a.flush()
	}
	return nil
}

// header writes the file header: magic, metadata (schema, codec), sync marker.
func (a *avroWriter) header(c *avroCompiled) error {
	if _, err := rand.Read(a.sync[:]); err != nil {
		return fmt.Errorf("avro format: sync marker: %w", err)
	}
	h := []byte("Obj\x01")
	h = binary.AppendVarint(h, 2)
	for _, kv := range [][2]string{{"avro.schema", c.m.schemaJSON}, {"avro.codec", a.f.codec}} {
		h = binary.AppendVarint(h, int64(len(kv[0])))
		h = append(h, kv[0]...)
		h = binary.AppendVarint(h, int64(len(kv[1])))
		h = append(h, kv[1]...)
	}
	h = binary.AppendVarint(h, 0)
	h = append(h, a.sync[:]...)
	if _, err := a.w.Write(h); err != nil {
		a.err = fmt.Errorf("avro format: start the file: %w", err)
		return a.err
	}
	return nil
}

// flush compresses and writes the open block.
func (a *avroWriter) flush() error {
	if a.count == 0 {
		return nil
	}
	data, err := a.compress(a.block)
	if err != nil {
		a.err = fmt.Errorf("avro format: compress a block: %w", err)
		return a.err
	}
	out := binary.AppendVarint(a.out[:0], int64(a.count))
	out = binary.AppendVarint(out, int64(len(data)))
	out = append(out, data...)
	out = append(out, a.sync[:]...)
	a.out = out
	a.block, a.count = a.block[:0], 0
	if _, err := a.w.Write(out); err != nil {
		a.err = fmt.Errorf("avro format: write a block: %w", err)
		return a.err
	}
	return nil
}

func (a *avroWriter) compress(b []byte) ([]byte, error) {
	switch a.f.codec {
	case "deflate":
		buf := bytes.NewBuffer(a.zbuf[:0])
		if a.flate == nil {
			w, err := flate.NewWriter(buf, flate.DefaultCompression)
			if err != nil {
				return nil, err
			}
			a.flate = w
		} else {
			a.flate.Reset(buf)
		}
		if _, err := a.flate.Write(b); err != nil {
			return nil, err
		}
		if err := a.flate.Close(); err != nil {
			return nil, err
		}
		a.zbuf = buf.Bytes()
		return a.zbuf, nil
	case "snappy":
		// Avro's snappy: the block, then the CRC-32 of the uncompressed data.
		a.zbuf = snappy.Encode(a.zbuf[:cap(a.zbuf)], b)
		a.zbuf = binary.BigEndian.AppendUint32(a.zbuf, crc32.ChecksumIEEE(b))
		return a.zbuf, nil
	case "zstandard":
		if a.zstd == nil {
			z, _ := a.f.zstd.Get().(*zstd.Encoder)
			if z == nil {
				var err error
				if z, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1)); err != nil {
					return nil, err
				}
			}
			a.zstd = z
		}
		a.zbuf = a.zstd.EncodeAll(b, a.zbuf[:0])
		return a.zbuf, nil
	}
	return b, nil
}

func (a *avroWriter) Close() error {
	if a.schema == nil {
		return nil
	}
	err := a.err
	if err == nil {
		err = a.flush()
	}
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
