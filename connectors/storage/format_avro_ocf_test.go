package storage

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"reflect"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/linkedin/goavro/v2"
)

// readOCF reads an Avro object container file: its metadata and its
// datums in goavro's native form, decoded with the schema of the header.
// goavro's OCF reader refuses a block of zero bytes (records of structs
// without fields: valid Avro, fastavro reads it), which the fuzz target
// writes, so the container is also parsed here; readAvro checks goavro's
// reader agrees on every other file. empty says such a block was seen.
func readOCF(b []byte) (meta map[string]string, out []any, empty bool, err error) {
	r := bytes.NewReader(b)
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != "Obj\x01" {
		return nil, nil, false, fmt.Errorf("no Avro magic: %q %v", magic, err)
	}
	meta = map[string]string{}
	for {
		n, err := binary.ReadVarint(r)
		if err != nil {
			return nil, nil, false, fmt.Errorf("metadata: %w", err)
		}
		if n == 0 {
			break
		}
		if n < 0 {
			n = -n
			if _, err := binary.ReadVarint(r); err != nil { // the block's byte size
				return nil, nil, false, err
			}
		}
		for range n {
			k, err := readBytes(r)
			if err != nil {
				return nil, nil, false, err
			}
			v, err := readBytes(r)
			if err != nil {
				return nil, nil, false, err
			}
			meta[string(k)] = string(v)
		}
	}
	sync := make([]byte, 16)
	if _, err := io.ReadFull(r, sync); err != nil {
		return nil, nil, false, fmt.Errorf("sync marker: %w", err)
	}
	codec, err := goavro.NewCodec(meta["avro.schema"])
	if err != nil {
		return nil, nil, false, fmt.Errorf("header schema: %w", err)
	}
	for r.Len() > 0 {
		count, err := binary.ReadVarint(r)
		if err != nil {
			return nil, nil, false, fmt.Errorf("block count: %w", err)
		}
		data, err := readBytes(r)
		if err != nil {
			return nil, nil, false, fmt.Errorf("block: %w", err)
		}
		empty = empty || len(data) == 0
		if data, err = decompress(meta["avro.codec"], data); err != nil {
			return nil, nil, false, err
		}
		for range count {
			var v any
			if v, data, err = codec.NativeFromBinary(data); err != nil {
				return nil, nil, false, fmt.Errorf("datum %d: %w", len(out), err)
			}
			out = append(out, v)
		}
		if len(data) != 0 {
			return nil, nil, false, fmt.Errorf("%d bytes after the datums of a block", len(data))
		}
		got := make([]byte, 16)
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, sync) {
			return nil, nil, false, fmt.Errorf("block sync marker %x, want %x (%v)", got, sync, err)
		}
	}
	return meta, out, empty, nil
}

func readBytes(r *bytes.Reader) ([]byte, error) {
	n, err := binary.ReadVarint(r)
	if err != nil {
		return nil, err
	}
	if n < 0 || n > int64(r.Len()) {
		return nil, fmt.Errorf("length %d with %d bytes left", n, r.Len())
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

func decompress(codec string, b []byte) ([]byte, error) {
	switch codec {
	case "", "null":
		return b, nil
	case "deflate":
		return io.ReadAll(flate.NewReader(bytes.NewReader(b)))
	case "snappy":
		if len(b) < 4 {
			return nil, errors.New("snappy block without its CRC")
		}
		d, err := snappy.Decode(nil, b[:len(b)-4])
		if err != nil {
			return nil, err
		}
		if crc32.ChecksumIEEE(d) != binary.BigEndian.Uint32(b[len(b)-4:]) {
			return nil, errors.New("snappy block CRC mismatch")
		}
		return d, nil
	case "zstandard":
		d, err := zstd.NewReader(nil)
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return d.DecodeAll(b, nil)
	}
	return nil, fmt.Errorf("codec %q", codec)
}

// readAvro is readOCF, checked against goavro's OCF reader where goavro
// has the codec (not zstandard: fastavro reads those in the services
// tests).
func readAvro(b []byte) (codec string, out []any, err error) {
	meta, out, empty, err := readOCF(b)
	if err != nil {
		return "", nil, err
	}
	codec = meta["avro.codec"]
	if empty || codec == avroZstandard {
		return codec, out, nil
	}
	or, err := goavro.NewOCFReader(bytes.NewReader(b))
	if err != nil {
		return "", nil, fmt.Errorf("goavro's OCF reader: %w", err)
	}
	var theirs []any
	for or.Scan() {
		v, err := or.Read()
		if err != nil {
			return "", nil, fmt.Errorf("goavro's OCF reader: %w", err)
		}
		theirs = append(theirs, v)
	}
	if err := or.Err(); err != nil {
		return "", nil, fmt.Errorf("goavro's OCF reader: %w", err)
	}
	if !reflect.DeepEqual(out, theirs) && !(len(out) == 0 && len(theirs) == 0) {
		return "", nil, fmt.Errorf("goavro's OCF reader reads %d datums, differently", len(theirs))
	}
	return codec, out, nil
}
