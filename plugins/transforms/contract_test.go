package transforms

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

// minimalConfigs holds a valid configuration for every built-in transform
// and predicate, keyed by simple class name (without $Key/$Value).
var minimalConfigs = map[string]plugins.Config{
	"InsertField":        {"topic.field": "t", "static.field": "s", "static.value": "v"},
	"ReplaceField":       {"exclude": "name"},
	"MaskField":          {"fields": "name"},
	"ValueToKey":         {"fields": "id"},
	"HoistField":         {"field": "f"},
	"ExtractField":       {"field": "id"},
	"Cast":               {"spec": "id:string"},
	"Flatten":            {},
	"TimestampConverter": {"target.type": "unix"},
	"TimestampRouter":    {},
	"RegexRouter":        {"regex": "(.*)", "replacement": "$1-x"},
	"InsertHeader":       {"header": "h", "value.literal": "v"},
	"DropHeaders":        {"headers": "h"},
	"HeaderFrom":         {"fields": "id", "headers": "h", "operation": "move"},
	"Filter":             {},
	"TopicNameMatches":   {"pattern": ".*"},
	"HasHeaderKey":       {"name": "h"},
	"RecordIsTombstone":  {},
}

func simpleName(class string) string {
	s := class[strings.LastIndexByte(class, '.')+1:]
	s, _, _ = strings.Cut(s, "$")
	return s
}

// TestTransformContract runs every registered transform over a spread of
// record shapes: it must return a record or an error — never panic — and
// never modify its input.
func TestTransformContract(t *testing.T) {
	inputs := []*plugins.Record{
		rec(person(1, "ann", 30), personS),
		withKey(rec(map[string]any{"id": int64(1), "name": "x"}, nil), map[string]any{"id": "k", "name": "n"}, nil),
		rec(nil, nil),
		rec(nil, personS.AsOptional()),
		withKey(rec("plain", plugins.StringSchema), int64(5), plugins.Int64Schema),
		withHeaders(rec([]byte{1}, plugins.BytesSchema), plugins.Header{Key: "h", Value: "1"}),
		withKey(rec(map[any]any{int32(1): "x"}, plugins.MapSchema(plugins.Int32Schema, plugins.StringSchema)), tsRec, plugins.TimestampSchema()),
		{Topic: "no-timestamp", Value: []any{int64(1)}},
	}
	n := 0
	for _, info := range plugins.Default.List(plugins.PluginTransform, plugins.PluginPredicate) {
		cfg, ok := minimalConfigs[simpleName(info.Class)]
		if !ok {
			t.Errorf("no minimal config for %s: add one", info.Class)
			continue
		}
		t.Run(info.Class, func(t *testing.T) {
			r, _ := plugins.Default.Lookup(info.Class)
			a := r.New()
			if p, ok := a.(plugins.ConfigDefProvider); !ok || p.ConfigDef() == nil {
				t.Fatal("no ConfigDef")
			}
			if vals := a.(plugins.ConfigDefProvider).ConfigDef().Validate(cfg); plugins.ErrorCount(vals) != 0 {
				t.Fatalf("minimal config invalid: %+v", vals)
			}
			for i, in := range inputs {
				before := describe(in)
				switch x := a.(type) {
				case plugins.Transform:
					if i == 0 {
						if err := x.Configure(cfg); err != nil {
							t.Fatal(err)
						}
					}
					x.Apply(in)
				case plugins.Predicate:
					if i == 0 {
						if err := x.Configure(cfg); err != nil {
							t.Fatal(err)
						}
					}
					x.Test(in)
				}
				if after := describe(in); after != before {
					t.Fatalf("input %d modified:\n before %s\n after  %s", i, before, after)
				}
				n++
			}
		})
	}
	if n == 0 {
		t.Fatal("no plugin exercised")
	}
}

// TestPluginConfigDocs renders GET /connector-plugins/{p}/config for every
// registered plugin: it must encode, and every key must be documented.
func TestPluginConfigDocs(t *testing.T) {
	for _, info := range plugins.Default.List() {
		def, reg, err := plugins.Default.PluginConfigDef(info.Class)
		if err != nil {
			t.Fatalf("%s: %v", info.Class, err)
		}
		if reg.Version == "" || reg.Doc == "" {
			t.Errorf("%s: registration lacks version or doc", info.Class)
		}
		if _, err := json.Marshal(def.KeyInfos()); err != nil {
			t.Errorf("%s: %v", info.Class, err)
		}
		for _, k := range def.Keys() {
			if strings.TrimSpace(k.Documentation) == "" {
				t.Errorf("%s: key %s has no documentation", info.Class, k.Name)
			}
		}
	}
}
