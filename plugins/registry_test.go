package plugins

import (
	"errors"
	"slices"
	"testing"
)

type fakeConn struct{}

func (fakeConn) ConfigDef() *ConfigDef                { return NewConfigDef().Define(ConfigKey{Name: "k"}) }
func (fakeConn) Start(ConnectorContext, Config) error { return nil }
func (fakeConn) TaskConfigs(int) ([]Config, error)    { return nil, nil }
func (fakeConn) Stop() error                          { return nil }
func (fakeConn) Version() string                      { return "9" }
func (fakeConn) NewTask() SourceTask                  { return nil }

// nopTransform passes every record through.
type nopTransform struct{}

func (nopTransform) ConfigDef() *ConfigDef              { return NewConfigDef() }
func (nopTransform) Configure(Config) error             { return nil }
func (nopTransform) Apply(rec *Record) (*Record, error) { return rec, nil }
func (nopTransform) Close() error                       { return nil }

func TestRegistryAliasesAndErrors(t *testing.T) {
	g := NewRegistry()
	g.Register(Registration{Class: "com.example.FooSourceConnector", Type: PluginSource, Version: "1.2", Aliases: []string{"foo"}, New: func() any { return fakeConn{} }})
	g.Register(Registration{Class: "org.other.FooSourceConnector", Type: PluginSource, New: func() any { return fakeConn{} }})
	g.Register(Registration{Class: "com.example.Up", Type: PluginTransform, New: func() any { return nopTransform{} }})

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
		g.Register(Registration{Class: "com.example.Up", Type: PluginTransform, New: func() any { return nopTransform{} }})
	}()
}
