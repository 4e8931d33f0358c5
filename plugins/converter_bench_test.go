package plugins

import "testing"

var benchUsers = StructBuilder().Name("ksql.users").
	Field("registertime", Int64Schema).
	Field("userid", StringSchema).
	Field("regionid", OptionalStringSchema).
	Field("gender", OptionalStringSchema).MustBuild()

func BenchmarkJSONFromConnect(b *testing.B) {
	c := NewJSONConverter()
	v := NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.FromConnect("t", benchUsers, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONToConnect(b *testing.B) {
	c := NewJSONConverter()
	v := NewStruct(benchUsers).MustPut("registertime", int64(1493819497170)).MustPut("userid", "User_1").MustPut("regionid", "Region_5").MustPut("gender", "MALE")
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
