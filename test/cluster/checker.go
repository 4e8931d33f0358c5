package cluster

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Value is what the workload writes: the producer's number and its
// per-producer sequence, so any record read back names who wrote it and in
// which order.
func Value(producer, seq int) string { return fmt.Sprintf("w%03d-%08d", producer, seq) }

// ParseValue undoes Value; ok is false for bytes the workload never writes.
func ParseValue(v string) (producer, seq int, ok bool) {
	p, s, found := strings.Cut(v, "-")
	if !found || len(p) < 2 || p[0] != 'w' {
		return 0, 0, false
	}
	pn, err1 := strconv.Atoi(p[1:])
	sn, err2 := strconv.Atoi(s)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	return pn, sn, true
}

// Ack is one write the cluster acknowledged (acks=all): it must be present,
// exactly once, at Offset of Partition, from then on.
type Ack struct {
	Partition int32
	Offset    int64
	Value     string
	At        time.Time // when the producer saw the acknowledgement
}

// Commit is a committed group offset as the workload observed it (its own
// commit, or an OffsetFetch); per (Group, Partition) they may never go
// backwards in observation order.
type Commit struct {
	Group     string
	Partition int32
	Offset    int64
}

// Rec is one record as a read returned it.
type Rec struct {
	Offset int64
	Value  string
}

// Read is one partition read from Source (for example "leader n2 after
// round 3", or "replica n1" when n1 led the final read) from the log start
// up to its high watermark. Acks earlier than Start must be in it.
type Read struct {
	Source    string
	Partition int32
	Start     time.Time
	Records   []Rec
}

// History is everything a test observed.
type History struct {
	Acks    []Ack
	Commits []Commit
	Reads   []Read
}

// Row is the checker's verdict for one partition (Partition -1: the total).
type Row struct {
	Partition    int32
	Acknowledged int // acknowledged writes
	Present      int // acknowledged and, in every read that must hold it, exactly at its offset
	Lost         int // acknowledged but missing from at least one read that must hold it
	Moved        int // acknowledged, present, but at another offset than acknowledged
	Duplicated   int // values found at more than one offset of one read
	Reordered    int // a producer's records out of its send order (acks or reads)
	Divergent    int // offsets at which two reads disagree (below both their ends)
	Unexpected   int // records nobody wrote (not in the workload's format)
	Regressions  int // committed offsets that went backwards (total row only)
	Reads        int // reads of this partition checked
}

// OK reports whether the row shows no anomaly.
func (r Row) OK() bool {
	return r.Lost == 0 && r.Moved == 0 && r.Duplicated == 0 && r.Reordered == 0 &&
		r.Divergent == 0 && r.Unexpected == 0 && r.Regressions == 0 && r.Present == r.Acknowledged
}

// Result is the checker's verdict: one row per partition and a total.
type Result struct {
	Rows    []Row
	Total   Row
	Details []string // the first anomalies, one line each, for the test log
}

// OK reports whether the whole history is clean.
func (r Result) OK() bool { return r.Total.OK() }

const maxDetails = 20

func (r *Result) detail(format string, args ...any) {
	if len(r.Details) < maxDetails {
		r.Details = append(r.Details, fmt.Sprintf(format, args...))
	}
}

// Check runs every invariant over h. It is pure: the same history gives the
// same verdict, which is what lets the unit tests feed it hand-made
// anomalies.
func Check(h History) Result {
	var res Result
	parts := map[int32]bool{}
	acksBy := map[int32][]Ack{}
	for _, a := range h.Acks {
		parts[a.Partition] = true
		acksBy[a.Partition] = append(acksBy[a.Partition], a)
	}
	readsBy := map[int32][]Read{}
	for _, rd := range h.Reads {
		parts[rd.Partition] = true
		readsBy[rd.Partition] = append(readsBy[rd.Partition], rd)
	}
	var ids []int32
	for p := range parts {
		ids = append(ids, p)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, p := range ids {
		row := checkPartition(&res, p, acksBy[p], readsBy[p])
		res.Rows = append(res.Rows, row)
		t := &res.Total
		t.Acknowledged += row.Acknowledged
		t.Present += row.Present
		t.Lost += row.Lost
		t.Moved += row.Moved
		t.Duplicated += row.Duplicated
		t.Reordered += row.Reordered
		t.Divergent += row.Divergent
		t.Unexpected += row.Unexpected
		t.Reads += row.Reads
	}
	res.Total.Partition = -1
	res.Total.Regressions = checkCommits(&res, h.Commits)
	return res
}

func checkPartition(res *Result, p int32, acks []Ack, reads []Read) Row {
	row := Row{Partition: p, Acknowledged: len(acks), Reads: len(reads)}

	// Acks of one producer to one partition must carry increasing offsets
	// in its send order (idempotent producers keep order per partition).
	// Two acks at one offset is the broker handing out an offset twice.
	ackAt := map[int64]string{}
	lastOff := map[int]int64{}
	lastSeq := map[int]int{}
	byProdSeq := append([]Ack(nil), acks...)
	sort.SliceStable(byProdSeq, func(i, j int) bool {
		pi, si, _ := ParseValue(byProdSeq[i].Value)
		pj, sj, _ := ParseValue(byProdSeq[j].Value)
		if pi != pj {
			return pi < pj
		}
		return si < sj
	})
	for _, a := range byProdSeq {
		if prev, dup := ackAt[a.Offset]; dup && prev != a.Value {
			row.Divergent++
			res.detail("p%d: offset %d acknowledged twice, for %s and %s", p, a.Offset, prev, a.Value)
		}
		ackAt[a.Offset] = a.Value
		pr, seq, ok := ParseValue(a.Value)
		if !ok {
			continue
		}
		if lo, seen := lastOff[pr]; seen && a.Offset <= lo {
			row.Reordered++
			res.detail("p%d: producer %d's seq %d acknowledged at offset %d, not after seq %d at %d", p, pr, seq, a.Offset, lastSeq[pr], lo)
		}
		lastOff[pr], lastSeq[pr] = a.Offset, seq
	}

	// Per read: index by value and offset; duplicates, order, strangers.
	type index struct {
		at  map[string][]int64
		val map[int64]string
		end int64 // one past the highest offset read
	}
	idx := make([]index, len(reads))
	for i, rd := range reads {
		ix := index{at: map[string][]int64{}, val: map[int64]string{}}
		lastRead := map[int]int{}
		for _, r := range rd.Records {
			ix.at[r.Value] = append(ix.at[r.Value], r.Offset)
			ix.val[r.Offset] = r.Value
			if r.Offset+1 > ix.end {
				ix.end = r.Offset + 1
			}
			pr, seq, ok := ParseValue(r.Value)
			if !ok {
				row.Unexpected++
				res.detail("p%d %s: offset %d holds %q, which no producer wrote", p, rd.Source, r.Offset, r.Value)
				continue
			}
			if ls, seen := lastRead[pr]; seen && seq < ls {
				row.Reordered++
				res.detail("p%d %s: producer %d's seq %d at offset %d after its seq %d", p, rd.Source, pr, seq, r.Offset, ls)
			}
			lastRead[pr] = seq
		}
		for v, offs := range ix.at {
			if len(offs) > 1 {
				row.Duplicated++
				res.detail("p%d %s: %s at %d offsets %v", p, rd.Source, v, len(offs), offs)
			}
		}
		idx[i] = ix
	}

	// Every acknowledged write, in every read that began after its ack.
	for _, a := range acks {
		lost, moved := false, false
		for i, rd := range reads {
			if rd.Start.Before(a.At) {
				continue
			}
			offs := idx[i].at[a.Value]
			switch {
			case len(offs) == 0:
				if !lost {
					res.detail("p%d %s: acknowledged %s (offset %d) is missing", p, rd.Source, a.Value, a.Offset)
				}
				lost = true
			case !contains(offs, a.Offset):
				if !moved {
					res.detail("p%d %s: acknowledged %s at offset %d, read at %v", p, rd.Source, a.Value, a.Offset, offs)
				}
				moved = true
			}
		}
		switch {
		case lost:
			row.Lost++
		case moved:
			row.Moved++
		default:
			row.Present++
		}
	}

	// Replicas must agree offset by offset below the shorter read's end.
	div := map[int64]bool{}
	for i := range reads {
		for j := i + 1; j < len(reads); j++ {
			end := min(idx[i].end, idx[j].end)
			for off, v := range idx[i].val {
				if off >= end || div[off] {
					continue
				}
				if w, ok := idx[j].val[off]; !ok || w != v {
					div[off] = true
					res.detail("p%d: offset %d is %q in %s but %q in %s", p, off, v, reads[i].Source, w, reads[j].Source)
				}
			}
			for off, w := range idx[j].val {
				if off >= end || div[off] {
					continue
				}
				if _, ok := idx[i].val[off]; !ok {
					div[off] = true
					res.detail("p%d: offset %d is %q in %s but absent in %s", p, off, w, reads[j].Source, reads[i].Source)
				}
			}
		}
	}
	row.Divergent += len(div)
	return row
}

func checkCommits(res *Result, commits []Commit) int {
	type gp struct {
		g string
		p int32
	}
	last := map[gp]int64{}
	n := 0
	for _, c := range commits {
		k := gp{c.Group, c.Partition}
		if prev, ok := last[k]; ok && c.Offset < prev {
			n++
			res.detail("group %s p%d: committed offset went back from %d to %d", c.Group, c.Partition, prev, c.Offset)
			continue // keep the high mark: one regression counts once
		}
		last[k] = c.Offset
	}
	return n
}

func contains(xs []int64, x int64) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// Print writes the verdict as a table, then the first anomalies.
func (r Result) Print(w io.Writer) {
	var b strings.Builder
	defer func() { io.WriteString(w, b.String()) }()
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "partition\tacknowledged\tpresent\tlost\tmoved\tduplicated\treordered\tdivergent\tunexpected\tcommit-regressions\treads\t")
	line := func(name string, x Row) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t\n", name, x.Acknowledged, x.Present, x.Lost,
			x.Moved, x.Duplicated, x.Reordered, x.Divergent, x.Unexpected, regr(x), x.Reads)
	}
	for _, x := range r.Rows {
		line(strconv.Itoa(int(x.Partition)), x)
	}
	line("total", r.Total)
	tw.Flush()
	for _, d := range r.Details {
		fmt.Fprintln(&b, "  "+d)
	}
	if r.OK() {
		fmt.Fprintln(&b, "checker: OK")
	} else {
		fmt.Fprintln(&b, "checker: ANOMALIES")
	}
}

func regr(x Row) string {
	if x.Partition < 0 {
		return strconv.Itoa(x.Regressions)
	}
	return "-"
}
