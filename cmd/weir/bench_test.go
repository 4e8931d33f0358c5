package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/klauspost/compress/s2"
)

// A benchmark whose records all carry the same bytes measures a compressor,
// not a broker: franz-go's default snappy shrinks such batches to almost
// nothing. Every value must differ, and a batch of them must not compress.
func TestBenchPayloadsDoNotCompress(t *testing.T) {
	p := payloadPool(1024)
	if bytes.Equal(p.value(0), p.value(1)) || bytes.Equal(p.value(7), p.value(8)) {
		t.Fatal("consecutive records share a value")
	}
	if len(p.value(3)) != 1024 || cap(p.value(3)) != 1024 {
		t.Fatalf("value of %d bytes, cap %d", len(p.value(3)), cap(p.value(3)))
	}
	var batch []byte
	for i := int64(0); i < 1000; i++ { // ~1 MB: one default franz-go batch
		batch = append(batch, p.value(i)...)
	}
	if n := len(s2.EncodeSnappy(nil, batch)); n < len(batch) {
		t.Fatalf("a batch of %d bytes compresses to %d", len(batch), n)
	}
	if !bytes.Equal(p.value(0), p.value(p.n)) {
		t.Error("the pool should wrap around, not run past its end")
	}
	if z := payloadPool(0); len(z.value(5)) != 0 {
		t.Error("size 0 should give empty values")
	}
}

// weir bench produce changes the client only where a flag was given.
func TestBenchProduceKeepsClientDefaults(t *testing.T) {
	ps := producerSettings{acks: "all", compression: "snappy", batchBytes: 1 << 20}
	opts, err := ps.optsFor(func(string) bool { return false })
	if err != nil || len(opts) != 0 {
		t.Fatalf("no flags given: %d options, %v", len(opts), err)
	}
	opts, err = ps.optsFor(func(f string) bool { return f == "linger" })
	if err != nil || len(opts) != 1 {
		t.Fatalf("--linger given: %d options, %v", len(opts), err)
	}
	ps.compression = "brotli"
	if _, err := ps.optsFor(func(f string) bool { return f == "compression" }); err == nil {
		t.Error("a bad --compression should be an error")
	}
	if all, err := (&producerSettings{acks: "1", compression: "none", batchBytes: 1}).opts(); err != nil || len(all) != 5 {
		t.Errorf("weir produce still sets every knob: %d options, %v", len(all), err)
	}
}

func TestBenchConsumeInGroup(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "benchgroup")
	mustCLI(t, addr, "", "bench", "produce", "--topic", topic, "--records", "300", "--record-size", "10", "--partitions", "2", "--json")
	out := mustCLI(t, addr, "", "bench", "consume", "--topic", topic, "--records", "300", "--group", topic+"-g", "--json")
	var c benchResult
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.Records != 300 {
		t.Fatalf("consume in a group: %q, %v", out, err)
	}
	if row := tableRow(mustCLI(t, addr, "", "group", "list"), topic+"-g"); row == nil {
		t.Error("the group is not listed after consuming in it")
	}
}
