package log

import "testing"

// A new follower of a leader whose log starts at 200 restarts its own
// (empty or shorter) log there; the next append lands at 200 and the
// start survives a crash.
func TestStartAt(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	cfg := smallSegments()
	l := mustOpen(t, dir, cfg, testOpts(c))
	for i := 0; i < 5; i++ {
		mustAppend(t, l, simpleBatch(t, 2, c.ms()))
	}
	if err := l.StartAt(200); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 200 || l.EndOffset() != 200 || l.Size() != 0 {
		t.Fatalf("after StartAt(200): [%d, %d) size %d", l.StartOffset(), l.EndOffset(), l.Size())
	}
	if res := mustAppend(t, l, simpleBatch(t, 1, c.ms())); res.BaseOffset != 200 {
		t.Fatalf("append after StartAt at %d", res.BaseOffset)
	}
	crash(l)
	l = mustOpen(t, dir, cfg, testOpts(c))
	defer l.Close()
	if l.StartOffset() != 200 || l.EndOffset() != 201 {
		t.Fatalf("after reopen: [%d, %d)", l.StartOffset(), l.EndOffset())
	}
	if err := l.StartAt(-1); err == nil {
		t.Fatal("StartAt(-1) accepted")
	}
}
