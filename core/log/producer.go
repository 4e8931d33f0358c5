package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Producer state follows Kafka's ProducerStateManager: for every producer id
// the epoch, the sequence and offset ranges of its five most recent batches
// (a retry of any of them is a duplicate), and the first offset of its open
// transaction, if any. It is snapshotted into <offset>.snapshot files and
// rebuilt on open by loading the newest snapshot at or below the log end and
// replaying the batches after it.

const maxProducerBatches = 5 // Kafka's NUM_BATCHES_TO_RETAIN

type producerBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTs                   int64
}

type producerEntry struct {
	epoch            int16
	batches          []producerBatch // oldest first, at most maxProducerBatches
	txnFirstOffset   int64           // first offset of the open transaction, -1 if none
	coordinatorEpoch int32
	lastTs           int64
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastSeq
}

type producerState map[int64]*producerEntry

func (ps producerState) clone() producerState {
	out := make(producerState, len(ps))
	for id, e := range ps {
		c := *e
		c.batches = append([]producerBatch(nil), e.batches...)
		out[id] = &c
	}
	return out
}

// firstUnstable is the smallest first offset of an open transaction, or -1.
func (ps producerState) firstUnstable() int64 {
	min := int64(-1)
	for _, e := range ps {
		if e.txnFirstOffset >= 0 && (min < 0 || e.txnFirstOffset < min) {
			min = e.txnFirstOffset
		}
	}
	return min
}

// errDuplicate is returned by check with the original batch.
type errDuplicate struct{ orig producerBatch }

func (e *errDuplicate) Error() string { return "duplicate batch" }

func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

// check validates an idempotent or transactional batch from a client
// against the producer's state, as Kafka's ProducerAppendInfo does.
func (ps producerState) check(h *batchHeader) error {
	if h.ProducerID < 0 {
		return nil
	}
	e := ps[h.ProducerID]
	if h.control() {
		if e != nil && h.ProducerEpoch < e.epoch {
			return fmt.Errorf("control batch for producer %d epoch %d < %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
		}
		return nil
	}
	if h.BaseSequence < 0 {
		return nil // transactional markers aside, pid without sequences: nothing to check
	}
	if e == nil {
		if h.BaseSequence != 0 {
			return fmt.Errorf("producer %d unknown, first sequence %d: %w", h.ProducerID, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
		}
		return nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return fmt.Errorf("producer %d epoch %d < %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return fmt.Errorf("producer %d new epoch %d starts at sequence %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
		}
		return nil
	}
	last := h.lastSequence()
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return &errDuplicate{orig: b}
		}
	}
	if ls := e.lastSeq(); ls >= 0 && h.BaseSequence != nextSeq(ls) {
		return fmt.Errorf("producer %d sequence %d, expected %d: %w", h.ProducerID, h.BaseSequence, nextSeq(ls), kerr.OutOfOrderSequenceNumber)
	}
	if len(e.batches) == 0 && h.BaseSequence != 0 {
		return fmt.Errorf("producer %d first sequence %d: %w", h.ProducerID, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
	}
	return nil
}

// update applies a batch that is in the log (appended now, or replayed).
func (ps producerState) update(h *batchHeader, body []byte) {
	if h.ProducerID < 0 {
		return
	}
	e := ps[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch, txnFirstOffset: -1}
		ps[h.ProducerID] = e
	}
	if h.ProducerEpoch > e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	e.lastTs = h.MaxTimestamp
	if h.control() {
		// The marker ends the transaction whether commit or abort; the
		// coordinator epoch is in the record value, which we need not
		// decode to compute the last stable offset.
		e.txnFirstOffset = -1
		return
	}
	if h.transactional() && e.txnFirstOffset < 0 {
		e.txnFirstOffset = h.BaseOffset
	}
	if h.BaseSequence >= 0 {
		if len(e.batches) == maxProducerBatches {
			copy(e.batches, e.batches[1:])
			e.batches = e.batches[:maxProducerBatches-1]
		}
		e.batches = append(e.batches, producerBatch{
			firstSeq: h.BaseSequence, lastSeq: h.lastSequence(),
			firstOffset: h.BaseOffset, lastOffset: h.lastOffset(), maxTs: h.MaxTimestamp,
		})
	}
}

// Snapshot file:
//
//	magic "WPS1" | crc32c uint32 of the rest | count uint32 | count * entry
//	entry: pid int64 | epoch int16 | txnFirst int64 | coordEpoch int32 |
//	       lastTs int64 | n uint8 | n * (firstSeq int32 | lastSeq int32 |
//	       firstOffset int64 | lastOffset int64 | maxTs int64)
const snapshotMagic = "WPS1"

func (ps producerState) marshal() []byte {
	ids := make([]int64, 0, len(ps))
	for id := range ps {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, 12, 12+len(ps)*64)
	copy(b, snapshotMagic)
	binary.BigEndian.PutUint32(b[8:], uint32(len(ps)))
	for _, id := range ids {
		e := ps[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirstOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = append(b, uint8(len(e.batches)))
		for _, pb := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(pb.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(pb.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.firstOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(pb.maxTs))
		}
	}
	binary.BigEndian.PutUint32(b[4:], crc32.Checksum(b[8:], crcTable))
	return b
}

var errBadSnapshot = errors.New("corrupt producer snapshot")

func unmarshalProducerState(b []byte) (producerState, error) {
	if len(b) < 12 || string(b[:4]) != snapshotMagic || binary.BigEndian.Uint32(b[4:]) != crc32.Checksum(b[8:], crcTable) {
		return nil, errBadSnapshot
	}
	n := binary.BigEndian.Uint32(b[8:])
	b = b[12:]
	ps := make(producerState, n)
	for i := uint32(0); i < n; i++ {
		if len(b) < 31 {
			return nil, errBadSnapshot
		}
		id := int64(binary.BigEndian.Uint64(b))
		e := &producerEntry{
			epoch:            int16(binary.BigEndian.Uint16(b[8:])),
			txnFirstOffset:   int64(binary.BigEndian.Uint64(b[10:])),
			coordinatorEpoch: int32(binary.BigEndian.Uint32(b[18:])),
			lastTs:           int64(binary.BigEndian.Uint64(b[22:])),
		}
		nb := int(b[30])
		b = b[31:]
		if nb > maxProducerBatches || len(b) < nb*32 {
			return nil, errBadSnapshot
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, producerBatch{
				firstSeq:    int32(binary.BigEndian.Uint32(b)),
				lastSeq:     int32(binary.BigEndian.Uint32(b[4:])),
				firstOffset: int64(binary.BigEndian.Uint64(b[8:])),
				lastOffset:  int64(binary.BigEndian.Uint64(b[16:])),
				maxTs:       int64(binary.BigEndian.Uint64(b[24:])),
			})
			b = b[32:]
		}
		ps[id] = e
	}
	return ps, nil
}

// snapshotOffsets lists the offsets of the snapshot files in dir, ascending.
func snapshotOffsets(fsys FS, dir string) ([]int64, error) {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range ents {
		if off, ok := parseBaseName(e.Name(), snapshotSuffix); ok {
			out = append(out, off)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// loadSnapshot returns the newest valid snapshot at or below maxOffset;
// corrupt ones are skipped (and removed), falling back to older ones.
func loadSnapshot(fsys FS, dir string, maxOffset int64) (producerState, int64, bool) {
	offs, err := snapshotOffsets(fsys, dir)
	if err != nil {
		return nil, 0, false
	}
	for i := len(offs) - 1; i >= 0; i-- {
		if offs[i] > maxOffset {
			continue
		}
		name := filepath.Join(dir, segmentName(offs[i], snapshotSuffix))
		b, err := readWholeFile(fsys, name)
		if err != nil {
			continue
		}
		ps, err := unmarshalProducerState(b)
		if err != nil {
			_ = fsys.Remove(name)
			continue
		}
		return ps, offs[i], true
	}
	return nil, 0, false
}

// producerIDExpiration is Kafka's producer.id.expiration.ms default: state
// of a producer idle this long (by its batches' timestamps) and without an
// open transaction is dropped, so the map does not grow forever.
const producerIDExpiration = 24 * 60 * 60 * 1000

// expire drops idle producers; it returns how many.
func (ps producerState) expire(nowMs int64) int {
	n := 0
	for id, e := range ps {
		if e.txnFirstOffset < 0 && e.lastTs < nowMs-producerIDExpiration {
			delete(ps, id)
			n++
		}
	}
	return n
}
