package storage

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/linkedin/goavro/v2"

	"github.com/weirlog/weir/plugins"
)

// AvroCodecConfig is Confluent's key for the codec of Avro files.
const AvroCodecConfig = "avro.codec"

var avroCodecKey = plugins.ConfigKey{Name: AvroCodecConfig, Type: plugins.ConfigString, Default: "null", Importance: plugins.Low,
	Validator: plugins.ValidatorFunc("[null, deflate, snappy, zstandard]", func(_ string, v any) error {
		s, _ := v.(string)
		_, err := avroCodecName(s)
		return err
	}),
	Recommended: avroCodecs,
	Documentation: "AvroFormat: the codec of the file blocks: null, deflate, snappy or zstandard (zstd is taken for zstandard). " +
		"bzip2 and xz are not supported"}

// avroZstandard is Avro's name of the zstd codec, written to the header.
const avroZstandard = "zstandard"

var avroCodecs = []string{goavro.CompressionNullLabel, goavro.CompressionDeflateLabel, goavro.CompressionSnappyLabel, avroZstandard}

// avroCodecName is the codec's name as Avro writes it in the header.
func avroCodecName(name string) (string, error) {
	switch n := strings.ToLower(name); n {
	case goavro.CompressionNullLabel, goavro.CompressionDeflateLabel, goavro.CompressionSnappyLabel, avroZstandard:
		return n, nil
	case "zstd":
		return avroZstandard, nil
	}
	return "", fmt.Errorf("avro codec %q is not supported: use null, deflate, snappy or zstandard", name)
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
// of every Append. goavro's OCFWriter has no zstandard: with that codec
// the container is put together here (zstdContainer), every byte of it
// still encoded by goavro.
func AvroFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	name, err := avroCodecName(p.String(AvroCodecConfig))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", AvroCodecConfig, err)
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
	blocks  avroBlocks // the container; nil before the first record
	size    int        // encoded bytes of the open block
	scratch []byte     // a datum encoded to check it
	err     error      // a failed write to w: the file is broken
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
	if a.schema == nil {
		var err error
		if a.blocks, err = newAvroBlocks(a.w, c.codec, a.f.codec); err != nil {
			a.err = fmt.Errorf("avro format: start the file: %w", err)
			return a.err
		}
		a.schema, a.c = rec.ValueSchema, c
	}
	a.blocks.add(v, b)
	a.size += len(b)
	if a.size >= avroBlockSize {
		return a.flush()
	}
	return nil
}

// flush writes the open block.
func (a *avroWriter) flush() error {
	a.size = 0
	if err := a.blocks.flush(); err != nil {
		a.err = fmt.Errorf("avro format: write a block: %w", err)
		return a.err
	}
	return nil
}

// avroBlocks is the container of one file: add takes a record's datum
// (native, and as the writer encoded it to check it) into the open
// block; flush writes the block, if it has datums.
type avroBlocks interface {
	add(native any, encoded []byte)
	flush() error
}

// newAvroBlocks starts a file (its header) for the codec: goavro's
// OCFWriter, or zstdContainer for the zstandard it lacks.
func newAvroBlocks(w io.Writer, c *goavro.Codec, codec string) (avroBlocks, error) {
	if codec == avroZstandard {
		return newZstdContainer(w, c)
	}
	ocf, err := goavro.NewOCFWriter(goavro.OCFConfig{W: w, Codec: c, CompressionName: codec})
	if err != nil {
		return nil, err
	}
	return &ocfBlocks{w: ocf}, nil
}

// ocfBlocks gathers native datums for goavro's OCFWriter, which makes a
// block of every Append (and encodes them itself).
type ocfBlocks struct {
	w       *goavro.OCFWriter
	pending []any
}

func (o *ocfBlocks) add(native any, _ []byte) { o.pending = append(o.pending, native) }

func (o *ocfBlocks) flush() error {
	if len(o.pending) == 0 {
		return nil
	}
	err := o.w.Append(o.pending)
	clear(o.pending) // let the values go
	o.pending = o.pending[:0]
	return err
}

func (a *avroWriter) Close() error {
	if a.schema == nil {
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

// zstdContainer writes an Avro object container file with the zstandard
// codec, which goavro's OCFWriter lacks. The header is a datum of the
// spec's org.apache.avro.file.Header schema and each block's count and
// size are Avro longs, all encoded by goavro; the block's datums arrive
// encoded (the writer encodes each record once, to check it) and are
// compressed together by klauspost/compress's zstd into one frame, as
// Avro Java's ZstandardCodec compresses a block.
type zstdContainer struct {
	w     io.Writer
	sync  []byte
	count int64
	block []byte // the open block's encoded datums
	out   []byte // the last block as written
}

// avroHeader is the container header's schema, from the Avro
// specification ("Object Container Files").
var avroHeader = mustCodec(`{"type":"record","name":"org.apache.avro.file.Header","fields":[` +
	`{"name":"magic","type":{"type":"fixed","name":"Magic","size":4}},` +
	`{"name":"meta","type":{"type":"map","values":"bytes"}},` +
	`{"name":"sync","type":{"type":"fixed","name":"Sync","size":16}}]}`)

var avroLong = mustCodec(`"long"`)

// zstdEncoder is shared: EncodeAll may run concurrently. Level 3, Avro
// Java's default for zstandard, is klauspost's SpeedDefault.
var zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))

func mustCodec(schema string) *goavro.Codec {
	c, err := goavro.NewCodec(schema)
	if err != nil {
		panic(err)
	}
	return c
}

func newZstdContainer(w io.Writer, c *goavro.Codec) (*zstdContainer, error) {
	z := &zstdContainer{w: w, sync: make([]byte, 16)}
	_, _ = rand.Read(z.sync) // crypto/rand never fails
	h, err := avroHeader.BinaryFromNative(nil, map[string]any{
		"magic": []byte("Obj\x01"),
		"meta":  map[string]any{"avro.schema": []byte(c.Schema()), "avro.codec": []byte(avroZstandard)},
		"sync":  z.sync,
	})
	if err != nil {
		return nil, err
	}
	_, err = w.Write(h)
	return z, err
}

// add appends one encoded datum to the open block.
func (z *zstdContainer) add(_ any, datum []byte) {
	z.block = append(z.block, datum...)
	z.count++
}

// flush writes the open block, if it has datums.
func (z *zstdContainer) flush() error {
	if z.count == 0 {
		return nil
	}
	data := zstdEncoder.EncodeAll(z.block, nil)
	b, _ := avroLong.BinaryFromNative(z.out[:0], z.count) // an int64 always encodes
	b, _ = avroLong.BinaryFromNative(b, int64(len(data)))
	b = append(append(b, data...), z.sync...)
	z.out, z.block, z.count = b, z.block[:0], 0
	_, err := z.w.Write(b)
	return err
}
