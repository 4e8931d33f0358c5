package plugins

import (
	"errors"
	"slices"
	"testing"
)

func TestRegistryKafkaClassNames(t *testing.T) {
	tests := []struct {
		name string
		typ  PluginType
	}{
		{"org.apache.kafka.connect.json.JsonConverter", PluginConverter},
		{"org.apache.kafka.connect.storage.StringConverter", PluginConverter},
		{"org.apache.kafka.connect.converters.ByteArrayConverter", PluginConverter},
		{"JsonConverter", PluginConverter},
		{"json", PluginConverter},
		{"org.apache.kafka.connect.transforms.predicates.TopicNameMatches", PluginPredicate},
		{"org.apache.kafka.connect.transforms.predicates.HasHeaderKey", PluginPredicate},
		{"org.apache.kafka.connect.transforms.predicates.RecordIsTombstone", PluginPredicate},
		{"TopicNameMatches", PluginPredicate},
		{"org.apache.kafka.connect.transforms.Filter", PluginTransform},
		{"org.apache.kafka.connect.transforms.ValueToKey", PluginTransform},
		{"org.apache.kafka.connect.transforms.RegexRouter", PluginTransform},
		{"org.apache.kafka.connect.transforms.TimestampRouter", PluginTransform},
		{"org.apache.kafka.connect.transforms.InsertHeader", PluginTransform},
		{"org.apache.kafka.connect.transforms.DropHeaders", PluginTransform},
		{"InsertField$Value", PluginTransform},
	}
	for _, kv := range []string{"InsertField", "ReplaceField", "MaskField", "HoistField", "ExtractField", "Cast", "Flatten", "TimestampConverter", "HeaderFrom"} {
		for _, side := range []string{"$Key", "$Value"} {
			tests = append(tests, struct {
				name string
				typ  PluginType
			}{"org.apache.kafka.connect.transforms." + kv + side, PluginTransform})
		}
	}
	for _, tc := range tests {
		r, ok := Lookup(tc.name)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tc.name)
			continue
		}
		if r.Type != tc.typ {
			t.Errorf("Lookup(%q).Type = %s, want %s", tc.name, r.Type, tc.typ)
		}
		v := r.New()
		switch tc.typ {
		case PluginTransform:
			tr, ok := v.(Transform)
			if !ok {
				t.Errorf("%s: New() is %T, not a Transform", tc.name, v)
			} else if tr.ConfigDef() == nil {
				t.Errorf("%s: nil ConfigDef", tc.name)
			}
		case PluginPredicate:
			if _, ok := v.(Predicate); !ok {
				t.Errorf("%s: New() is %T, not a Predicate", tc.name, v)
			}
		case PluginConverter:
			if _, ok := v.(Converter); !ok {
				t.Errorf("%s: New() is %T, not a Converter", tc.name, v)
			}
		}
	}
}

type fakeConn struct{}

func (fakeConn) ConfigDef() *ConfigDef                { return NewConfigDef().Define(ConfigKey{Name: "k"}) }
func (fakeConn) Start(ConnectorContext, Config) error { return nil }
func (fakeConn) TaskConfigs(int) ([]Config, error)    { return nil, nil }
func (fakeConn) Stop() error                          { return nil }
func (fakeConn) Version() string                      { return "9" }
func (fakeConn) NewTask() SourceTask                  { return nil }

func TestRegistryAliasesAndErrors(t *testing.T) {
	g := NewRegistry()
	g.Register(Registration{Class: "com.example.FooSourceConnector", Type: PluginSource, Version: "1.2", Aliases: []string{"foo"}, New: func() any { return fakeConn{} }})
	g.Register(Registration{Class: "org.other.FooSourceConnector", Type: PluginSource, New: func() any { return fakeConn{} }})
	g.Register(Registration{Class: "com.example.Up", Type: PluginTransform, New: func() any { return Filter{} }})

	for _, name := range []string{"com.example.FooSourceConnector", "foo"} {
		if r, ok := g.Lookup(name); !ok || r.Class != "com.example.FooSourceConnector" {
			t.Errorf("Lookup(%q) = %v, %v", name, r.Class, ok)
		}
	}
	// The simple names are shared by two classes: ambiguous, so neither
	// gets them (as in Kafka Connect).
	for _, name := range []string{"FooSourceConnector", "FooSource"} {
		if r, ok := g.Lookup(name); ok {
			t.Errorf("ambiguous alias %q resolved to %s", name, r.Class)
		}
	}
	if _, ok := g.Lookup("Up"); !ok {
		t.Error("simple-name alias of a transform missing")
	}
	if _, err := g.NewTransform("nope"); !errors.Is(err, ErrPluginNotFound) {
		t.Errorf("NewTransform(nope) = %v, want ErrPluginNotFound", err)
	}
	if _, err := g.NewTransform("foo"); !errors.Is(err, ErrPluginType) {
		t.Errorf("NewTransform(foo) = %v, want ErrPluginType", err)
	}
	c, r, err := g.NewConnector("foo")
	if err != nil || c.Version() != "9" || r.Version != "1.2" {
		t.Errorf("NewConnector(foo) = %v, %+v, %v", c, r, err)
	}
	d, _, err := g.PluginConfigDef("foo")
	if err != nil || len(d.Keys()) != 1 {
		t.Errorf("PluginConfigDef(foo) = %v, %v", d, err)
	}
	list := g.List(PluginSource)
	want := []PluginInfo{{"com.example.FooSourceConnector", PluginSource, "1.2"}, {"org.other.FooSourceConnector", PluginSource, Version}}
	if !slices.Equal(list, want) {
		t.Errorf("List(source) = %v, want %v", list, want)
	}
	if n := len(g.List()); n != 3 {
		t.Errorf("List() has %d entries, want 3", n)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("registering a class twice did not panic")
			}
		}()
		g.Register(Registration{Class: "com.example.Up", Type: PluginTransform, New: func() any { return Filter{} }})
	}()
}
