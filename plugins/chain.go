package plugins

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Connector configuration keys that define the transform chain, exactly
// as in Kafka Connect:
//
//	transforms=a,b
//	transforms.a.type=org.apache.kafka.connect.transforms.InsertField$Value
//	transforms.a.<own keys>=…
//	transforms.a.predicate=p        (optional)
//	transforms.a.negate=true        (optional, needs predicate)
//	predicates=p
//	predicates.p.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
//	predicates.p.<own keys>=…
const (
	TransformsKey = "transforms"
	PredicatesKey = "predicates"
)

// TransformsConfigKey and PredicatesConfigKey are the list keys the
// runtime defines in its connector-level ConfigDef (Kafka's
// ConnectorConfig); EnrichConfigDef adds the per-alias keys.
var (
	TransformsConfigKey = ConfigKey{Name: TransformsKey, Type: ConfigList, Default: "", Validator: uniqueAliases, Importance: Low,
		Group: "Transforms", OrderInGroup: 1, DisplayName: "Transforms",
		Documentation: "Aliases for the transformations to be applied to records."}
	PredicatesConfigKey = ConfigKey{Name: PredicatesKey, Type: ConfigList, Default: "", Validator: uniqueAliases, Importance: Low,
		Group: "Predicates", OrderInGroup: 1, DisplayName: "Predicates",
		Documentation: "Aliases for the predicates used by transformations."}
)

var uniqueAliases = ValidatorFunc("unique aliases", func(_ string, v any) error {
	l, _ := v.([]string)
	seen := map[string]bool{}
	for _, a := range l {
		if a == "" {
			return errors.New("empty alias")
		}
		if seen[a] {
			return fmt.Errorf("Duplicate alias provided: %s", a)
		}
		seen[a] = true
	}
	return nil
})

// TransformStage is one configured step of a chain.
type TransformStage struct {
	Alias string
	// Class is the transform's canonical class name (for error reports
	// such as the DLQ's __connect.errors.class.name header).
	Class          string
	Transform      Transform
	PredicateAlias string
	Predicate      Predicate // nil: always apply
	Negate         bool
}

// TransformChain applies configured transforms in order. It belongs to
// one task and is used from that task's goroutine only.
type TransformChain struct {
	stages []TransformStage
}

// Stages returns the configured stages in order.
func (c *TransformChain) Stages() []TransformStage { return c.stages }

// Len is the number of stages.
func (c *TransformChain) Len() int { return len(c.stages) }

// Apply runs rec through the chain. It returns nil when a transform drops
// the record. Errors name the failing alias; the runtime applies
// errors.tolerance to them. rec itself is not modified.
func (c *TransformChain) Apply(rec *Record) (*Record, error) {
	if c == nil {
		return rec, nil
	}
	for _, s := range c.stages {
		if s.Predicate != nil && s.Predicate.Test(rec) == s.Negate {
			continue
		}
		out, err := s.Transform.Apply(rec)
		if err != nil {
			return nil, fmt.Errorf("transform %s: %w", s.Alias, err)
		}
		if out == nil {
			return nil, nil
		}
		rec = out
	}
	return rec, nil
}

// Close closes every transform and predicate, joining their errors.
func (c *TransformChain) Close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for _, s := range c.stages {
		if err := s.Transform.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transform %s: %w", s.Alias, err))
		}
		if s.Predicate != nil {
			if err := s.Predicate.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close predicate %s: %w", s.PredicateAlias, err))
			}
		}
	}
	return errors.Join(errs...)
}

// WithPrefix returns the entries of cfg under prefix, with the prefix
// removed (Kafka's originalsWithPrefix).
func WithPrefix(cfg Config, prefix string) Config {
	out := Config{}
	for k, v := range cfg {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			out[rest] = v
		}
	}
	return out
}

func splitList(s string) []string {
	v, _ := parseConfigValue(ConfigList, s)
	return v.([]string)
}

// BuildTransformChain instantiates and configures the transforms and
// predicates a connector configuration names, looking classes up in reg
// (nil: Default). Each stage gets its own predicate instance. On error,
// whatever was built is closed.
func BuildTransformChain(reg *Registry, cfg Config) (*TransformChain, error) {
	if reg == nil {
		reg = Default
	}
	aliases := splitList(cfg[TransformsKey])
	if err := uniqueAliases.Validate(TransformsKey, aliases); err != nil {
		return nil, fmt.Errorf("%s: %w", TransformsKey, err)
	}
	predAliases := splitList(cfg[PredicatesKey])
	if err := uniqueAliases.Validate(PredicatesKey, predAliases); err != nil {
		return nil, fmt.Errorf("%s: %w", PredicatesKey, err)
	}
	chain := &TransformChain{}
	fail := func(err error) (*TransformChain, error) {
		_ = chain.Close()
		return nil, err
	}
	for _, a := range aliases {
		prefix := TransformsKey + "." + a + "."
		tcfg := WithPrefix(cfg, prefix)
		typ := tcfg["type"]
		if typ == "" {
			return fail(fmt.Errorf("missing required configuration %q", prefix+"type"))
		}
		t, err := reg.NewTransform(typ)
		if err != nil {
			return fail(fmt.Errorf("%stype: %w", prefix, err))
		}
		if err := t.Configure(tcfg); err != nil {
			return fail(fmt.Errorf("configure transform %s (%s): %w", a, typ, err))
		}
		stage := TransformStage{Alias: a, Transform: t}
		if r, ok := reg.Lookup(typ); ok {
			stage.Class = r.Class
		}
		chain.stages = append(chain.stages, stage)
		st := &chain.stages[len(chain.stages)-1]
		neg := strings.TrimSpace(tcfg["negate"])
		if neg != "" {
			v, err := parseConfigValue(ConfigBoolean, neg)
			if err != nil {
				return fail(fmt.Errorf("%snegate: %w", prefix, err))
			}
			st.Negate = v.(bool)
		}
		pa := strings.TrimSpace(tcfg["predicate"])
		if pa == "" {
			if neg != "" {
				return fail(fmt.Errorf("%snegate is set but %spredicate is not", prefix, prefix))
			}
			continue
		}
		if !slices.Contains(predAliases, pa) {
			return fail(fmt.Errorf("%spredicate: predicate %q is not listed in %s", prefix, pa, PredicatesKey))
		}
		pprefix := PredicatesKey + "." + pa + "."
		pcfg := WithPrefix(cfg, pprefix)
		ptyp := pcfg["type"]
		if ptyp == "" {
			return fail(fmt.Errorf("missing required configuration %q", pprefix+"type"))
		}
		p, err := reg.NewPredicate(ptyp)
		if err != nil {
			return fail(fmt.Errorf("%stype: %w", pprefix, err))
		}
		if err := p.Configure(pcfg); err != nil {
			_ = p.Close()
			return fail(fmt.Errorf("configure predicate %s (%s): %w", pa, ptyp, err))
		}
		st.PredicateAlias, st.Predicate = pa, p
	}
	return chain, nil
}

// EnrichConfigDef returns base plus, for every alias in cfg's
// "transforms" and "predicates", the per-alias keys (type, predicate,
// negate) and the plugin's own keys under the alias prefix, grouped as
// "Transforms: <alias>" / "Predicates: <alias>" — what Kafka Connect's
// validate endpoint reports. Validate the connector config with the result
// to check the whole chain (unknown classes, missing keys, bad values).
func EnrichConfigDef(reg *Registry, base *ConfigDef, cfg Config) *ConfigDef {
	if reg == nil {
		reg = Default
	}
	out := NewConfigDef().Merge(base)
	predAliases := splitList(cfg[PredicatesKey])
	seen := map[string]bool{}
	for _, a := range splitList(cfg[TransformsKey]) {
		if a == "" || seen["t."+a] {
			continue
		}
		seen["t."+a] = true
		prefix := TransformsKey + "." + a + "."
		group := "Transforms: " + a
		out.Define(ConfigKey{Name: prefix + "type", Type: ConfigClass, Default: NoDefault, Importance: High, Group: group, OrderInGroup: 0,
			DisplayName: "Transformation type for " + a, Documentation: "Class for the '" + a + "' transformation.",
			Validator: pluginClassValidator(reg, PluginTransform)})
		out.Define(ConfigKey{Name: prefix + "predicate", Type: ConfigString, Default: "", Importance: Medium, Group: group, OrderInGroup: 1,
			DisplayName: "Predicate for " + a, Documentation: "The alias of a predicate used to determine whether to apply this transformation.",
			Validator: ValidatorFunc("one of the predicates", func(_ string, v any) error {
				if s, _ := v.(string); s != "" && !slices.Contains(predAliases, s) {
					return fmt.Errorf("predicate %q is not listed in %s", s, PredicatesKey)
				}
				return nil
			})})
		out.Define(ConfigKey{Name: prefix + "negate", Type: ConfigBoolean, Default: false, Importance: Medium, Group: group, OrderInGroup: 2,
			DisplayName: "Negate for " + a, Documentation: "Whether the configured predicate should be negated."})
		addPluginKeys(reg, out, cfg[prefix+"type"], PluginTransform, prefix, group)
	}
	for _, p := range predAliases {
		if p == "" || seen["p."+p] {
			continue
		}
		seen["p."+p] = true
		prefix := PredicatesKey + "." + p + "."
		group := "Predicates: " + p
		out.Define(ConfigKey{Name: prefix + "type", Type: ConfigClass, Default: NoDefault, Importance: High, Group: group,
			DisplayName: "Predicate type for " + p, Documentation: "Class for the '" + p + "' predicate.",
			Validator: pluginClassValidator(reg, PluginPredicate)})
		addPluginKeys(reg, out, cfg[prefix+"type"], PluginPredicate, prefix, group)
	}
	return out
}

func pluginClassValidator(reg *Registry, t PluginType) Validator {
	return ValidatorFunc("a "+string(t)+" class", func(_ string, v any) error {
		s, _ := v.(string)
		r, ok := reg.Lookup(s)
		if !ok {
			return fmt.Errorf("Class %s could not be found", s)
		}
		if r.Type != t {
			return fmt.Errorf("%s is a %s, not a %s", s, r.Type, t)
		}
		return nil
	})
}

func addPluginKeys(reg *Registry, out *ConfigDef, class string, t PluginType, prefix, group string) {
	r, ok := reg.Lookup(class)
	if !ok || r.Type != t {
		return
	}
	p, ok := r.New().(ConfigDefProvider)
	if !ok {
		return
	}
	for i, k := range p.ConfigDef().Keys() {
		k.Name = prefix + k.Name
		k.Group = group
		k.OrderInGroup = i + 3
		k.Dependents = nil
		if _, dup := out.Key(k.Name); !dup {
			out.Define(k)
		}
	}
}
