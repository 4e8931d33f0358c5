package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Decompression is bounded: a batch of a few KiB can claim to inflate to
// gigabytes (a zstd or gzip "bomb"), and the broker decompresses what
// untrusted clients send. Every codec is decoded against a limit on its
// output, and what a frame announces is checked before anything is
// allocated for it: snappy's decoded length, zstd's frame content size and
// window. Gzip and lz4 announce nothing and are streamed through a
// limited reader, so their output never grows past limit+1 bytes.

// DefaultDecompressLimit bounds Records and RecordsUnchecked, which have no
// per-topic limit to hand: it is far above anything the broker accepts on
// produce (Config.MaxDecompressedBatchBytes, max.message.bytes).
const DefaultDecompressLimit = 256 << 20

// zstdMinWindow is the smallest window the zstd decoder accepts whatever
// the limit: encoders declare windows of several MiB even for small
// batches (klauspost's default is 8 MiB), and a frame's declared window,
// unlike its content, need not fit the limit. The output is still checked
// against the limit.
const zstdMinWindow = 16 << 20

// ErrTooLarge is wrapped by the error of a batch whose records would
// decompress to more than the limit.
var ErrTooLarge = errors.New("decompressed record batch too large")

// tooLargeError is ErrTooLarge and kerr.MessageTooLarge at once: Java
// producers answer MESSAGE_TOO_LARGE on a compressed batch by splitting
// it and sending the halves, which is the right remedy here too.
type tooLargeError struct {
	codec Codec
	limit int
}

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("%s record batch decompresses to more than %d bytes", e.codec, e.limit)
}
func (e *tooLargeError) Is(target error) bool { return target == ErrTooLarge }
func (e *tooLargeError) Unwrap() error        { return kerr.MessageTooLarge }

func tooLarge(c Codec, limit int) error { return &tooLargeError{c, limit} }

// Decompress decodes the records payload src of a batch compressed with c
// into dst's spare capacity (dst[:0] is reused; a larger slice is
// allocated when it does not fit), refusing output over limit bytes with
// an error wrapping ErrTooLarge and kerr.MessageTooLarge. Malformed input
// is an error wrapping ErrCorrupt. CodecNone returns src itself.
func Decompress(dst []byte, c Codec, src []byte, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultDecompressLimit
	}
	dst = dst[:0]
	var out []byte
	var err error
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, tooLarge(c, limit)
		}
		return src, nil
	case CodecGzip:
		out, err = gunzip(dst, src, limit)
	case CodecSnappy:
		out, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		out, err = unlz4(dst, src, limit)
	case CodecZstd:
		out, err = unzstd(dst, src, limit)
	default:
		return nil, fmt.Errorf("unknown compression codec %d: %w", c, ErrCorrupt)
	}
	if errors.Is(err, ErrTooLarge) {
		return nil, tooLarge(c, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("decompress %s: %v: %w", c, err, ErrCorrupt)
	}
	return out, nil
}

// readLimited streams r into dst, failing with ErrTooLarge past limit
// bytes. It grows dst by doubling, so the peak is at most about twice the
// limit even for a stream that never ends.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) > limit {
				return nil, ErrTooLarge
			}
			grow := max(len(dst), 16<<10)
			grow = min(grow, limit+1-len(dst))
			dst = slices.Grow(dst, grow)
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

type gzipDec struct {
	src bytes.Reader
	r   gzip.Reader
}

var gzipPool = sync.Pool{New: func() any { return new(gzipDec) }}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	d := gzipPool.Get().(*gzipDec)
	defer gzipPool.Put(d)
	d.src.Reset(src)
	if err := d.r.Reset(&d.src); err != nil {
		return nil, err
	}
	return readLimited(dst, &d.r, limit)
}

type lz4Dec struct {
	src bytes.Reader
	r   *lz4.Reader
}

var lz4Pool = sync.Pool{New: func() any { return &lz4Dec{r: lz4.NewReader(nil)} }}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	d := lz4Pool.Get().(*lz4Dec)
	defer lz4Pool.Put(d)
	d.src.Reset(src)
	d.r.Reset(&d.src)
	return readLimited(dst, d.r, limit)
}

// xerialMagic opens snappy data framed as the Java client's
// snappy-java SnappyOutputStream writes it: the magic, a version and a
// compatible version (int32 each), then blocks of [int32 length][raw
// snappy block].
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

var errXerial = errors.New("malformed xerial snappy framing")

func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderLen || !bytes.HasPrefix(src, xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return nil, err
		}
		if n > limit {
			return nil, ErrTooLarge
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		return s2.Decode(dst[:n], src)
	}
	// Sum the blocks' announced lengths first: nothing is allocated for
	// a stream that would exceed the limit.
	total := 0
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		blk, next, err := xerialBlock(rest)
		if err != nil {
			return nil, err
		}
		n, err := s2.DecodedLen(blk)
		if err != nil {
			return nil, err
		}
		if total += n; total > limit {
			return nil, ErrTooLarge
		}
		rest = next
	}
	if cap(dst) < total {
		dst = make([]byte, 0, total)
	}
	for rest := src[xerialHeaderLen:]; len(rest) > 0; {
		blk, next, _ := xerialBlock(rest)
		n, _ := s2.DecodedLen(blk)
		out, err := s2.Decode(dst[len(dst):len(dst)+n], blk)
		if err != nil {
			return nil, err
		}
		dst = dst[:len(dst)+len(out)]
		rest = next
	}
	return dst, nil
}

func xerialBlock(b []byte) (blk, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errXerial
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errXerial
	}
	return b[4 : 4+n], b[4+n:], nil
}

// zstd is streamed like gzip and lz4, through a decoder whose window is
// bounded: DecodeAll would grow its output by appending up to the bound,
// allocating several times the bound on the way (about 80 MiB to refuse a
// bomb at a 16 MiB bound), while a stream fills a buffer that stops at
// limit+1. Decoders are pooled per window bound, which depends on the
// limit; the limits in use are few (the broker ceiling, topics'
// max.message.bytes, DefaultDecompressLimit).
var zstdPools sync.Map // uint64 window bound → *sync.Pool of *zstdDec

type zstdDec struct {
	src bytes.Reader
	d   *zstd.Decoder
}

func zstdPool(window uint64) *sync.Pool {
	if p, ok := zstdPools.Load(window); ok {
		return p.(*sync.Pool)
	}
	p, _ := zstdPools.LoadOrStore(window, &sync.Pool{New: func() any {
		d, err := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(window),
		)
		if err != nil {
			return nil
		}
		zd := &zstdDec{d: d}
		// A pooled decoder dropped by the GC must release its goroutines.
		runtime.SetFinalizer(zd, func(zd *zstdDec) { zd.d.Close() })
		return zd
	}})
	return p.(*sync.Pool)
}

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	pool := zstdPool(uint64(max(limit, zstdMinWindow)))
	zd, _ := pool.Get().(*zstdDec)
	if zd == nil {
		return nil, errors.New("zstd decoder unavailable")
	}
	defer pool.Put(zd)
	zd.src.Reset(src)
	if err := zd.d.Reset(&zd.src); err != nil {
		return nil, err
	}
	out, err := readLimited(dst, zd.d, limit)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return nil, ErrTooLarge
	}
	return out, err
}
