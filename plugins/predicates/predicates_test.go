package predicates

import (
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

func TestPredicates(t *testing.T) {
	tests := []struct {
		name  string
		class string
		cfg   plugins.Config
		rec   *plugins.Record
		want  bool
		err   string
	}{
		{"topic matches", "TopicNameMatches", plugins.Config{"pattern": "ord.*"}, rec("v", nil), true, ""},
		{"topic must fully match", "TopicNameMatches", plugins.Config{"pattern": "ord"}, rec("v", nil), false, ""},
		{"topic pattern required", "TopicNameMatches", plugins.Config{}, nil, false, `Missing required configuration "pattern"`},
		{"topic pattern invalid", "TopicNameMatches", plugins.Config{"pattern": "("}, nil, false, "missing closing"},
		{"has header", "HasHeaderKey", plugins.Config{"name": "b"}, withHeaders(rec("v", nil), plugins.Header{Key: "a"}, plugins.Header{Key: "b"}), true, ""},
		{"no header", "HasHeaderKey", plugins.Config{"name": "c"}, withHeaders(rec("v", nil), plugins.Header{Key: "a"}), false, ""},
		{"tombstone", "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone", plugins.Config{}, rec(nil, nil), true, ""},
		{"not tombstone", "RecordIsTombstone", plugins.Config{}, rec("", nil), false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := plugins.Default.NewPredicate(tc.class)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Configure(tc.cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Configure = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Test(tc.rec); got != tc.want {
				t.Fatalf("Test = %v, want %v", got, tc.want)
			}
		})
	}
}

func rec(value any, schema *plugins.Schema) *plugins.Record {
	return &plugins.Record{Topic: "orders", Partition: 3, Offset: 42, Value: value, ValueSchema: schema}
}

func withHeaders(r *plugins.Record, hs ...plugins.Header) *plugins.Record {
	c := *r
	c.Headers = hs
	return &c
}
