package plugins

import (
	"strings"
	"testing"
)

func TestNewStructWith(t *testing.T) {
	s := StructBuilder().Field("id", Int64Schema).Field("name", OptionalStringSchema).MustBuild()
	vals := []any{int64(7), nil, int64(8), "x"}
	a, err := NewStructWith(s, vals[0:2:2])
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewStructWith(s, vals[2:4:4])
	if err != nil {
		t.Fatal(err)
	}
	if a.Get("id") != int64(7) || a.Get("name") != nil || b.Get("id") != int64(8) || b.Get("name") != "x" {
		t.Fatalf("structs %v %v", a, b)
	}
	if !a.Equal(NewStruct(s).MustPut("id", int64(7))) {
		t.Errorf("%v differs from the same struct built with Put", a)
	}
	// Put on one struct leaves its neighbour in the same slice alone.
	a.MustPut("name", "changed")
	if b.Get("id") != int64(8) {
		t.Errorf("Put on a changed its neighbour: %v", b)
	}
	for _, c := range []struct {
		vals []any
		want string
	}{
		{[]any{"seven", nil}, `field "id"`},
		{[]any{nil, nil}, `field "id"`},
		{[]any{int64(1)}, "1 values for the 2 fields"},
	} {
		if _, err := NewStructWith(s, c.vals); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewStructWith(%v) = %v, want an error containing %q", c.vals, err, c.want)
		}
	}
	if _, err := NewStructWith(Int64Schema, nil); err == nil {
		t.Error("NewStructWith accepted a non-STRUCT schema")
	}
}

func TestStructSlab(t *testing.T) {
	s := StructBuilder().Field("id", Int64Schema).Field("name", OptionalStringSchema).MustBuild()
	slab := StructSlab{Chunk: 2}
	var got []*Struct
	for i := range 5 { // more than one chunk
		st, err := slab.New(s, []any{int64(i), nil})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, st)
	}
	for i, st := range got {
		if st.Get("id") != int64(i) || !st.Equal(NewStruct(s).MustPut("id", int64(i))) {
			t.Errorf("struct %d of the slab is %v", i, st)
		}
	}
	got[0].MustPut("name", "changed")
	if got[1].Get("name") != nil {
		t.Errorf("Put on one struct of a chunk changed its neighbour: %v", got[1])
	}
	if _, err := slab.New(s, []any{"seven", nil}); err == nil || !strings.Contains(err.Error(), `field "id"`) {
		t.Errorf("StructSlab.New of an invalid value: %v", err)
	}
	if _, err := slab.New(Int64Schema, nil); err == nil {
		t.Error("StructSlab.New accepted a non-STRUCT schema")
	}
}
