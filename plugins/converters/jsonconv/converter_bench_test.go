package jsonconv

import (
	"testing"

	"github.com/weirlog/weir/plugins"
)

var benchUsers = plugins.StructBuilder().Name("ksql.users").
	Field("registertime", plugins.Int64Schema).
	Field("userid", plugins.StringSchema).
	Field("regionid", plugins.OptionalStringSchema).
	Field("gender", plugins.OptionalStringSchema).MustBuild()

func BenchmarkJSONFromConnect(b *testing.B) {
	c := NewJSONConverter()
	v := plugins.NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FromConnect("t", benchUsers, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONToConnect(b *testing.B) {
	c := NewJSONConverter()
	v := plugins.NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
	data, err := c.FromConnect("t", benchUsers, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := c.ToConnect("t", data); err != nil {
			b.Fatal(err)
		}
	}
}
