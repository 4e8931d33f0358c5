package transforms

import (
	"strings"
	"testing"

	"github.com/weirlog/weir/plugins"
)

func TestTransformChain(t *testing.T) {
	cfg := plugins.Config{
		"transforms":                          "route, tag ,dropTombstones",
		"transforms.route.type":               "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":              "orders",
		"transforms.route.replacement":        "orders-v2",
		"transforms.tag.type":                 "InsertField$Value",
		"transforms.tag.static.field":         "origin",
		"transforms.tag.static.value":         "weir",
		"transforms.tag.predicate":            "isOrders",
		"transforms.tag.negate":               "true",
		"transforms.dropTombstones.type":      "Filter",
		"transforms.dropTombstones.predicate": "tomb",
		"predicates":                          "isOrders,tomb",
		"predicates.isOrders.type":            "TopicNameMatches",
		"predicates.isOrders.pattern":         "orders",
		"predicates.tomb.type":                "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
	}
	chain, err := plugins.BuildTransformChain(nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	if chain.Len() != 3 || chain.Stages()[1].PredicateAlias != "isOrders" || !chain.Stages()[1].Negate ||
		chain.Stages()[1].Class != "org.apache.kafka.connect.transforms.InsertField$Value" {
		t.Fatalf("stages = %+v", chain.Stages())
	}
	// The router renames first, so the negated predicate sees orders-v2
	// (no match) and InsertField applies.
	got, err := chain.Apply(rec(map[string]any{"id": 1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	want := withTopic(rec(map[string]any{"id": 1, "origin": "weir"}, nil), "orders-v2")
	if !recordsEqual(got, want) {
		t.Fatalf("got %s, want %s", describe(got), describe(want))
	}
	// Another topic: router leaves it, predicate does not match either.
	got, err = chain.Apply(withTopic(rec(map[string]any{"id": 1}, nil), "users"))
	if err != nil || got.Value.(map[string]any)["origin"] != "weir" {
		t.Fatalf("users: %s, %v", describe(got), err)
	}
	// Tombstones are dropped by the Filter stage.
	if got, err := chain.Apply(withTopic(rec(nil, nil), "users")); err != nil || got != nil {
		t.Fatalf("tombstone: %s, %v", describe(got), err)
	}
	// Errors name the alias.
	if _, err := chain.Apply(withTopic(rec("not a map", nil), "users")); err == nil || !strings.Contains(err.Error(), "transform tag") {
		t.Fatalf("error = %v", err)
	}
	// An empty chain is the identity.
	empty, err := plugins.BuildTransformChain(nil, plugins.Config{})
	if err != nil || empty.Len() != 0 {
		t.Fatal(err)
	}
	r := rec("x", nil)
	if got, _ := empty.Apply(r); got != r {
		t.Fatal("empty chain changed the record")
	}
}

func TestTransformChainErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  plugins.Config
		err  string
	}{
		{"duplicate alias", plugins.Config{"transforms": "a,a", "transforms.a.type": "Filter"}, "Duplicate alias"},
		{"missing type", plugins.Config{"transforms": "a"}, `"transforms.a.type"`},
		{"unknown class", plugins.Config{"transforms": "a", "transforms.a.type": "com.example.Nope"}, "no plugin found"},
		{"not a transform", plugins.Config{"transforms": "a", "transforms.a.type": "JsonConverter"}, "wrong plugin type"},
		{"bad transform config", plugins.Config{"transforms": "a", "transforms.a.type": "Cast$Value"}, `configure transform a`},
		{"negate without predicate", plugins.Config{"transforms": "a", "transforms.a.type": "Filter", "transforms.a.negate": "true"}, "negate is set"},
		{"undeclared predicate", plugins.Config{"transforms": "a", "transforms.a.type": "Filter", "transforms.a.predicate": "p"}, "not listed in predicates"},
		{"predicate without type", plugins.Config{"transforms": "a", "transforms.a.type": "Filter", "transforms.a.predicate": "p", "predicates": "p"}, `"predicates.p.type"`},
		{"bad predicate config", plugins.Config{"transforms": "a", "transforms.a.type": "Filter", "transforms.a.predicate": "p", "predicates": "p", "predicates.p.type": "HasHeaderKey"}, "configure predicate p"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plugins.BuildTransformChain(nil, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error = %v, want one containing %q", err, tc.err)
			}
		})
	}
}

func TestEnrichConfigDef(t *testing.T) {
	base := plugins.NewConfigDef().Define(plugins.ConfigKey{Name: "name", Default: plugins.NoDefault}).Define(plugins.TransformsConfigKey).Define(plugins.PredicatesConfigKey)
	cfg := plugins.Config{
		"name":                      "c1",
		"transforms":                "mask,bad",
		"transforms.mask.type":      "org.apache.kafka.connect.transforms.MaskField$Value",
		"transforms.mask.predicate": "p",
		"transforms.bad.type":       "com.example.Missing",
		"predicates":                "p",
		"predicates.p.type":         "TopicNameMatches",
		"predicates.p.pattern":      "(",
	}
	def := plugins.EnrichConfigDef(nil, base, cfg)
	infos := def.ValidateInfos("x", cfg)
	errs := map[string][]string{}
	for _, c := range infos.Configs {
		if len(c.Value.Errors) > 0 {
			errs[c.Value.Name] = c.Value.Errors
		}
	}
	for key, want := range map[string]string{
		"transforms.mask.fields": `Missing required configuration "transforms.mask.fields"`,
		"transforms.bad.type":    "Class com.example.Missing could not be found",
		"predicates.p.pattern":   "missing closing",
	} {
		if len(errs[key]) == 0 || !strings.Contains(errs[key][0], want) {
			t.Errorf("errors of %s = %v, want %q", key, errs[key], want)
		}
	}
	if infos.ErrorCount != 3 {
		t.Errorf("error_count = %d (%v), want 3", infos.ErrorCount, errs)
	}
	groups := strings.Join(infos.Groups, "|")
	if groups != "Transforms|Predicates|Transforms: mask|Transforms: bad|Predicates: p" {
		t.Errorf("groups = %s", groups)
	}
}
