package plugins

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// PluginType is the kind of a plugin, spelled as Kafka Connect's
// GET /connector-plugins shows it.
type PluginType string

// Plugin types.
const (
	PluginSource          PluginType = "source"
	PluginSink            PluginType = "sink"
	PluginConverter       PluginType = "converter"
	PluginHeaderConverter PluginType = "header_converter"
	PluginTransform       PluginType = "transformation"
	PluginPredicate       PluginType = "predicate"
)

// ConfigDefProvider is implemented by every plugin that has configuration:
// connectors, transforms and predicates by contract, converters optionally.
type ConfigDefProvider interface {
	ConfigDef() *ConfigDef
}

// Registration describes one plugin. Class is the canonical name reported
// by /connector-plugins; for plugins that stand in for one of Kafka's, use
// Kafka's fully qualified class name so existing configs keep working.
type Registration struct {
	Class   string
	Type    PluginType
	Version string
	// Aliases are extra names that find the plugin (e.g. "file-source").
	// The simple class name (after the last '.') and, for connectors, the
	// simple name without a "Connector" suffix are added automatically, as
	// Kafka Connect does.
	Aliases []string
	Doc     string
	// New returns a fresh, unconfigured instance of the plugin: a
	// SourceConnector, SinkConnector, Transform, Predicate or Converter
	// according to Type.
	New func() any
}

// PluginInfo is one entry of GET /connector-plugins.
type PluginInfo struct {
	Class   string     `json:"class"`
	Type    PluginType `json:"type"`
	Version string     `json:"version"`
}

// Registry maps plugin names and aliases to registrations. It is safe for
// concurrent use. Built-in plugins register into Default from init().
type Registry struct {
	mu      sync.RWMutex
	byClass map[string]*Registration
	byAlias map[string]*Registration
	// ambiguous automatic aliases are dropped, as Kafka does.
	ambiguous map[string]bool
}

// NewRegistry returns an empty registry (for tests; plugins use Default).
func NewRegistry() *Registry {
	return &Registry{byClass: map[string]*Registration{}, byAlias: map[string]*Registration{}, ambiguous: map[string]bool{}}
}

// Default is the process-wide registry that built-ins and connectors
// register into from init() and the runtime looks plugins up in.
var Default = NewRegistry()

// Register adds r. It panics when r is malformed or its Class or an
// explicit alias is already taken: registrations happen in init(), so a
// clash is a build-time mistake.
func (g *Registry) Register(r Registration) {
	if r.Class == "" || r.New == nil || r.Type == "" {
		panic(fmt.Sprintf("plugins: malformed registration %+v", r))
	}
	if r.Version == "" {
		r.Version = Version
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	reg := &r
	if _, dup := g.byClass[r.Class]; dup {
		panic(fmt.Sprintf("plugins: %s registered twice", r.Class))
	}
	g.byClass[r.Class] = reg
	for _, a := range r.Aliases {
		if other, dup := g.byAlias[a]; dup && other != reg {
			panic(fmt.Sprintf("plugins: alias %q of %s already used by %s", a, r.Class, other.Class))
		}
		if _, dup := g.byClass[a]; dup && a != r.Class {
			panic(fmt.Sprintf("plugins: alias %q of %s is another plugin's class", a, r.Class))
		}
		g.byAlias[a] = reg
	}
	for _, a := range autoAliases(r) {
		if g.ambiguous[a] {
			continue
		}
		if other, dup := g.byAlias[a]; dup && other != reg {
			if !slices.Contains(other.Aliases, a) {
				delete(g.byAlias, a)
				g.ambiguous[a] = true
			}
			continue
		}
		g.byAlias[a] = reg
	}
}

func autoAliases(r Registration) []string {
	simple := r.Class[strings.LastIndexByte(r.Class, '.')+1:]
	out := []string{}
	if simple != r.Class {
		out = append(out, simple)
	}
	if (r.Type == PluginSource || r.Type == PluginSink) && strings.HasSuffix(simple, "Connector") && simple != "Connector" {
		out = append(out, strings.TrimSuffix(simple, "Connector"))
	}
	return out
}

// Lookup finds a plugin by class name or alias.
func (g *Registry) Lookup(name string) (Registration, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	name = strings.TrimSpace(name)
	if r, ok := g.byClass[name]; ok {
		return *r, true
	}
	if r, ok := g.byAlias[name]; ok {
		return *r, true
	}
	return Registration{}, false
}

// List returns every plugin of the given types (all types when none),
// sorted by class, for GET /connector-plugins.
func (g *Registry) List(types ...PluginType) []PluginInfo {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := []PluginInfo{}
	for _, r := range g.byClass {
		if len(types) == 0 || slices.Contains(types, r.Type) {
			out = append(out, PluginInfo{Class: r.Class, Type: r.Type, Version: r.Version})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Class < out[j].Class })
	return out
}

func (g *Registry) instance(name string, want ...PluginType) (any, Registration, error) {
	r, ok := g.Lookup(name)
	if !ok {
		return nil, r, fmt.Errorf("%w: %q", ErrPluginNotFound, name)
	}
	if len(want) > 0 && !slices.Contains(want, r.Type) {
		return nil, r, fmt.Errorf("%w: %s is a %s plugin, not %v", ErrPluginType, r.Class, r.Type, want)
	}
	return r.New(), r, nil
}

// ErrPluginNotFound is returned (wrapped) when no plugin has the name;
// the REST API maps it to 404 (for /connector-plugins/{p}) or a
// validation error (for connector.class).
var ErrPluginNotFound = errors.New("no plugin found")

// ErrPluginType is returned (wrapped) when the plugin exists but is of
// another type than requested.
var ErrPluginType = errors.New("wrong plugin type")

// NewConnector returns a fresh connector (SourceConnector or SinkConnector)
// and its registration.
func (g *Registry) NewConnector(name string) (Connector, Registration, error) {
	v, r, err := g.instance(name, PluginSource, PluginSink)
	if err != nil {
		return nil, r, err
	}
	return v.(Connector), r, nil
}

// NewSourceConnector returns a fresh source connector.
func (g *Registry) NewSourceConnector(name string) (SourceConnector, error) {
	v, _, err := g.instance(name, PluginSource)
	if err != nil {
		return nil, err
	}
	return v.(SourceConnector), nil
}

// NewSinkConnector returns a fresh sink connector.
func (g *Registry) NewSinkConnector(name string) (SinkConnector, error) {
	v, _, err := g.instance(name, PluginSink)
	if err != nil {
		return nil, err
	}
	return v.(SinkConnector), nil
}

// NewTransform returns a fresh, unconfigured transform.
func (g *Registry) NewTransform(name string) (Transform, error) {
	v, _, err := g.instance(name, PluginTransform)
	if err != nil {
		return nil, err
	}
	return v.(Transform), nil
}

// NewPredicate returns a fresh, unconfigured predicate.
func (g *Registry) NewPredicate(name string) (Predicate, error) {
	v, _, err := g.instance(name, PluginPredicate)
	if err != nil {
		return nil, err
	}
	return v.(Predicate), nil
}

// NewConverter returns a fresh, unconfigured converter.
func (g *Registry) NewConverter(name string) (Converter, error) {
	v, _, err := g.instance(name, PluginConverter)
	if err != nil {
		return nil, err
	}
	return v.(Converter), nil
}

// PluginConfigDef returns the ConfigDef of the named plugin (an empty one
// for plugins without configuration), for GET /connector-plugins/{p}/config.
func (g *Registry) PluginConfigDef(name string) (*ConfigDef, Registration, error) {
	v, r, err := g.instance(name)
	if err != nil {
		return nil, r, err
	}
	if p, ok := v.(ConfigDefProvider); ok {
		if d := p.ConfigDef(); d != nil {
			return d, r, nil
		}
	}
	return NewConfigDef(), r, nil
}

// Register adds r to Default.
func Register(r Registration) { Default.Register(r) }

// Lookup finds a plugin in Default.
func Lookup(name string) (Registration, bool) { return Default.Lookup(name) }

// List lists Default's plugins of the given types.
func List(types ...PluginType) []PluginInfo { return Default.List(types...) }

// Version is the version reported by built-in plugins.
const Version = "0.1.0"
