package plugins

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ConfigType is the type of a configuration key (Kafka's ConfigDef.Type).
type ConfigType string

// The configuration types, spelled as Kafka Connect's REST API shows them.
const (
	ConfigString   ConfigType = "STRING"
	ConfigInt      ConfigType = "INT"
	ConfigShort    ConfigType = "SHORT"
	ConfigLong     ConfigType = "LONG"
	ConfigDouble   ConfigType = "DOUBLE"
	ConfigBoolean  ConfigType = "BOOLEAN"
	ConfigList     ConfigType = "LIST"
	ConfigPassword ConfigType = "PASSWORD"
	ConfigClass    ConfigType = "CLASS"
)

// Importance of a configuration key.
type Importance string

// Importance levels.
const (
	High   Importance = "HIGH"
	Medium Importance = "MEDIUM"
	Low    Importance = "LOW"
)

// Width is the UI display width hint of a key.
type Width string

// Display widths.
const (
	WidthNone   Width = "NONE"
	WidthShort  Width = "SHORT"
	WidthMedium Width = "MEDIUM"
	WidthLong   Width = "LONG"
)

// Password is a PASSWORD value; it prints as [hidden] so it does not leak
// into logs or error messages. Use string(p) for the secret.
type Password string

// String hides the secret.
func (Password) String() string { return "[hidden]" }

type noDefault struct{}

// NoDefault as a ConfigKey's Default marks the key required.
var NoDefault any = noDefault{}

// ConfigKey defines one configuration key.
type ConfigKey struct {
	Name string
	Type ConfigType
	// Default is the value used when the key is absent: NoDefault (the key
	// is required), nil (optional, null), a string (parsed like a user
	// value) or a value of the key's Go type (string, int32, int16, int64,
	// float64, bool, []string, Password).
	Default       any
	Validator     Validator // may be nil
	Importance    Importance
	Documentation string
	Group         string
	OrderInGroup  int
	Width         Width
	DisplayName   string
	Dependents    []string
	// Recommended lists values the UI may offer; when nil and Validator is
	// a OneOf, its allowed values are recommended.
	Recommended []string
	// Internal keys are parsed but not listed by the REST API.
	Internal bool
}

// Required reports whether the key has no default.
func (k *ConfigKey) Required() bool { return k.Default == NoDefault }

// ConfigDef is an ordered set of configuration key definitions (Kafka's
// ConfigDef). Build it once (typically in a package-level var or in the
// plugin's ConfigDef method) and treat it as read-only afterwards; it is
// then safe for concurrent use.
type ConfigDef struct {
	keys  []ConfigKey
	index map[string]int
}

// NewConfigDef returns an empty definition.
func NewConfigDef() *ConfigDef { return &ConfigDef{index: map[string]int{}} }

// Define adds a key. Defining a name twice is a programming error and
// panics, as in Kafka. Returns d for chaining.
func (d *ConfigDef) Define(k ConfigKey) *ConfigDef {
	if d.index == nil {
		d.index = map[string]int{}
	}
	if _, dup := d.index[k.Name]; dup {
		panic(fmt.Sprintf("config key %q defined twice", k.Name))
	}
	if k.Type == "" {
		k.Type = ConfigString
	}
	if k.Importance == "" {
		k.Importance = Medium
	}
	if k.Width == "" {
		k.Width = WidthNone
	}
	if k.DisplayName == "" {
		k.DisplayName = k.Name
	}
	if k.Default != NoDefault && k.Default != nil {
		v, err := parseConfigValue(k.Type, k.Default)
		if err != nil {
			panic(fmt.Sprintf("config key %q: invalid default: %v", k.Name, err))
		}
		k.Default = v
	}
	d.index[k.Name] = len(d.keys)
	d.keys = append(d.keys, k)
	return d
}

// Merge returns a new ConfigDef holding d's keys followed by o's keys that
// d does not define (the runtime merges its connector-level keys with a
// plugin's own this way).
func (d *ConfigDef) Merge(o *ConfigDef) *ConfigDef {
	m := NewConfigDef()
	for _, k := range d.Keys() {
		m.index[k.Name] = len(m.keys)
		m.keys = append(m.keys, k)
	}
	for _, k := range o.Keys() {
		if _, dup := m.index[k.Name]; !dup {
			m.index[k.Name] = len(m.keys)
			m.keys = append(m.keys, k)
		}
	}
	return m
}

// Keys returns the keys in definition order. The caller must not modify
// the returned slice.
func (d *ConfigDef) Keys() []ConfigKey {
	if d == nil {
		return nil
	}
	return d.keys
}

// Key returns the named key.
func (d *ConfigDef) Key(name string) (ConfigKey, bool) {
	if d == nil {
		return ConfigKey{}, false
	}
	i, ok := d.index[name]
	if !ok {
		return ConfigKey{}, false
	}
	return d.keys[i], true
}

// Groups returns the distinct groups in order of first appearance.
func (d *ConfigDef) Groups() []string {
	var gs []string
	for _, k := range d.Keys() {
		if k.Group != "" && !slices.Contains(gs, k.Group) {
			gs = append(gs, k.Group)
		}
	}
	return gs
}

// ConfigValue is the validation result for one key (Kafka's ConfigValue).
type ConfigValue struct {
	Name string
	// Value is the parsed value (nil when absent without default or when
	// it failed to parse).
	Value any
	// Raw is the user's string, when given.
	Raw               string
	Set               bool
	RecommendedValues []string
	Errors            []string
	Visible           bool
}

// Validate checks cfg against every defined key and returns one
// ConfigValue per key, in definition order. Keys in cfg that d does not
// define are ignored (Kafka passes them through to the plugin).
func (d *ConfigDef) Validate(cfg Config) []ConfigValue {
	out := make([]ConfigValue, 0, len(d.Keys()))
	for _, k := range d.Keys() {
		cv := ConfigValue{Name: k.Name, Visible: true, RecommendedValues: k.recommended()}
		raw, set := cfg[k.Name]
		cv.Raw, cv.Set = raw, set
		v, err := k.parse(raw, set)
		if err != nil {
			cv.Errors = append(cv.Errors, err.Error())
		} else {
			cv.Value = v
			if k.Validator != nil && (set || v != nil) {
				if err := k.Validator.Validate(k.Name, v); err != nil {
					cv.Errors = append(cv.Errors, fmt.Sprintf("Invalid value %s for configuration %s: %v", showValue(k, raw, set, v), k.Name, err))
				}
			}
		}
		out = append(out, cv)
	}
	return out
}

// ErrorCount counts the errors in a Validate result.
func ErrorCount(vals []ConfigValue) int {
	n := 0
	for _, v := range vals {
		n += len(v.Errors)
	}
	return n
}

// Parse validates cfg and returns its typed values; the error joins every
// problem found.
func (d *ConfigDef) Parse(cfg Config) (*ParsedConfig, error) {
	p := &ParsedConfig{values: map[string]any{}, raw: maps.Clone(cfg)}
	var errs []error
	for _, cv := range d.Validate(cfg) {
		for _, e := range cv.Errors {
			errs = append(errs, errors.New(e))
		}
		p.values[cv.Name] = cv.Value
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func (k *ConfigKey) recommended() []string {
	if k.Recommended != nil {
		return slices.Clone(k.Recommended)
	}
	if r, ok := k.Validator.(interface{ recommended() []string }); ok {
		return r.recommended()
	}
	return []string{}
}

func (k *ConfigKey) parse(raw string, set bool) (any, error) {
	if !set {
		if k.Default == NoDefault {
			return nil, fmt.Errorf("Missing required configuration %q which has no default value.", k.Name)
		}
		return k.Default, nil
	}
	v, err := parseConfigValue(k.Type, raw)
	if err != nil {
		return nil, fmt.Errorf("Invalid value %s for configuration %s: %v", showValue(*k, raw, true, nil), k.Name, err)
	}
	return v, nil
}

func showValue(k ConfigKey, raw string, set bool, v any) string {
	if k.Type == ConfigPassword {
		return "[hidden]"
	}
	if set {
		return raw
	}
	return fmt.Sprint(v)
}

var commaSplit = regexp.MustCompile(`\s*,\s*`)

// parseConfigValue converts a raw string (or an already-typed default) to
// the Go type of t.
func parseConfigValue(t ConfigType, v any) (any, error) {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		switch t {
		case ConfigString, ConfigClass:
			return s, nil
		case ConfigPassword:
			return Password(s), nil
		case ConfigBoolean:
			switch strings.ToLower(s) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
			return nil, errors.New("Expected value to be either true or false")
		case ConfigInt:
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return nil, errors.New("Not a number of type INT")
			}
			return int32(n), nil
		case ConfigShort:
			n, err := strconv.ParseInt(s, 10, 16)
			if err != nil {
				return nil, errors.New("Not a number of type SHORT")
			}
			return int16(n), nil
		case ConfigLong:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, errors.New("Not a number of type LONG")
			}
			return n, nil
		case ConfigDouble:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, errors.New("Not a number of type DOUBLE")
			}
			return f, nil
		case ConfigList:
			if s == "" {
				return []string{}, nil
			}
			return commaSplit.Split(s, -1), nil
		}
		return nil, fmt.Errorf("unknown config type %q", t)
	}
	ok := false
	switch t {
	case ConfigString, ConfigClass:
		_, ok = v.(string)
	case ConfigPassword:
		_, ok = v.(Password)
	case ConfigBoolean:
		_, ok = v.(bool)
	case ConfigInt:
		if n, isInt := v.(int); isInt {
			return int32(n), nil
		}
		_, ok = v.(int32)
	case ConfigShort:
		_, ok = v.(int16)
	case ConfigLong:
		if n, isInt := v.(int); isInt {
			return int64(n), nil
		}
		_, ok = v.(int64)
	case ConfigDouble:
		if n, isInt := v.(int); isInt {
			return float64(n), nil
		}
		_, ok = v.(float64)
	case ConfigList:
		_, ok = v.([]string)
	}
	if !ok {
		return nil, fmt.Errorf("value %v of Go type %T is not a %s", v, v, t)
	}
	return v, nil
}

// FormatConfigValue renders a typed value back to the string form Kafka
// shows as default_value (lists comma-joined, passwords hidden).
func FormatConfigValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(x, ",")
	case Password:
		return "[hidden]"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// ParsedConfig holds the typed values of a validated Config. Getters panic
// on a name that was not defined with the matching type: that is a
// programming error, not a user error.
type ParsedConfig struct {
	values map[string]any
	raw    Config
}

// Raw returns the original configuration (including undefined keys).
func (p *ParsedConfig) Raw() Config { return p.raw }

// Get returns the typed value (nil when absent without default).
func (p *ParsedConfig) Get(name string) any {
	v, ok := p.values[name]
	if !ok {
		panic(fmt.Sprintf("config key %q is not defined", name))
	}
	return v
}

func (p *ParsedConfig) String(name string) string {
	v, _ := p.Get(name).(string)
	return v
}
func (p *ParsedConfig) Int(name string) int {
	v, _ := p.Get(name).(int32)
	return int(v)
}
func (p *ParsedConfig) Long(name string) int64 {
	v, _ := p.Get(name).(int64)
	return v
}
func (p *ParsedConfig) Double(name string) float64 {
	v, _ := p.Get(name).(float64)
	return v
}
func (p *ParsedConfig) Bool(name string) bool {
	v, _ := p.Get(name).(bool)
	return v
}
func (p *ParsedConfig) List(name string) []string {
	v, _ := p.Get(name).([]string)
	return v
}
func (p *ParsedConfig) Password(name string) Password {
	v, _ := p.Get(name).(Password)
	return v
}

// Validator checks a parsed value (Kafka's ConfigDef.Validator). The
// returned error's message completes "Invalid value X for configuration K: ".
type Validator interface {
	Validate(name string, value any) error
	String() string
}

type rangeValidator struct{ min, max *float64 }

// Between accepts numbers in [min, max].
func Between(min, max float64) Validator { return rangeValidator{&min, &max} }

// AtLeast accepts numbers >= min.
func AtLeast(min float64) Validator { return rangeValidator{min: &min} }

func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func (r rangeValidator) Validate(_ string, v any) error {
	if v == nil {
		return errors.New("Value must be non-null")
	}
	f, ok := toFloat(v)
	if !ok {
		return fmt.Errorf("Value must be a number, got %T", v)
	}
	if r.min != nil && f < *r.min {
		return fmt.Errorf("Value must be at least %s", num(*r.min))
	}
	if r.max != nil && f > *r.max {
		return fmt.Errorf("Value must be no more than %s", num(*r.max))
	}
	return nil
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func (r rangeValidator) String() string {
	lo, hi := "...", "..."
	if r.min != nil {
		lo = num(*r.min)
	}
	if r.max != nil {
		hi = num(*r.max)
	}
	return "[" + lo + ",...," + hi + "]"
}

type oneOf struct {
	vals       []string
	ignoreCase bool
}

// OneOf accepts exactly one of vals (Kafka's ValidString). For LIST keys
// every element must be one of vals.
func OneOf(vals ...string) Validator { return oneOf{vals: vals} }

// OneOfIgnoreCase is OneOf comparing case-insensitively
// (CaseInsensitiveValidString).
func OneOfIgnoreCase(vals ...string) Validator { return oneOf{vals: vals, ignoreCase: true} }

func (o oneOf) ok(s string) bool {
	for _, v := range o.vals {
		if v == s || (o.ignoreCase && strings.EqualFold(v, s)) {
			return true
		}
	}
	return false
}

func (o oneOf) Validate(_ string, v any) error {
	switch x := v.(type) {
	case nil:
		return fmt.Errorf("String must be one of: %s", strings.Join(o.vals, ", "))
	case []string:
		for _, e := range x {
			if !o.ok(e) {
				return fmt.Errorf("Invalid value %s; must be one of: %s", e, strings.Join(o.vals, ", "))
			}
		}
		return nil
	}
	if !o.ok(fmt.Sprint(v)) {
		return fmt.Errorf("String must be one of: %s", strings.Join(o.vals, ", "))
	}
	return nil
}

func (o oneOf) String() string        { return "[" + strings.Join(o.vals, ", ") + "]" }
func (o oneOf) recommended() []string { return slices.Clone(o.vals) }

type nonEmpty struct{}

// NonEmptyString rejects null and "" (and empty lists).
func NonEmptyString() Validator { return nonEmpty{} }

func (nonEmpty) Validate(_ string, v any) error {
	switch x := v.(type) {
	case nil:
		return errors.New("String may not be empty")
	case string:
		if x == "" {
			return errors.New("String may not be empty")
		}
	case Password:
		if x == "" {
			return errors.New("String may not be empty")
		}
	case []string:
		if len(x) == 0 {
			return errors.New("List may not be empty")
		}
	}
	return nil
}
func (nonEmpty) String() string { return "non-empty string" }

type regexValidator struct{ re *regexp.Regexp }

// MatchesRegex accepts strings (or list elements) fully matching pattern.
// An invalid pattern panics: validators are built in code.
func MatchesRegex(pattern string) Validator {
	return regexValidator{regexp.MustCompile(`^(?:` + pattern + `)$`)}
}

func (r regexValidator) Validate(_ string, v any) error {
	switch x := v.(type) {
	case string:
		if !r.re.MatchString(x) {
			return fmt.Errorf("must match pattern %s", r.re)
		}
	case []string:
		for _, e := range x {
			if !r.re.MatchString(e) {
				return fmt.Errorf("element %q must match pattern %s", e, r.re)
			}
		}
	case nil:
		return fmt.Errorf("must match pattern %s", r.re)
	}
	return nil
}
func (r regexValidator) String() string { return "matches " + r.re.String() }

// ValidatorFunc adapts a function; desc is shown in documentation.
func ValidatorFunc(desc string, f func(name string, v any) error) Validator {
	return funcValidator{desc, f}
}

type funcValidator struct {
	desc string
	f    func(string, any) error
}

func (f funcValidator) Validate(n string, v any) error { return f.f(n, v) }
func (f funcValidator) String() string                 { return f.desc }

// CompositeValidator applies each validator in turn; the first error wins.
func CompositeValidator(vs ...Validator) Validator {
	return funcValidator{
		desc: func() string {
			var parts []string
			for _, v := range vs {
				parts = append(parts, v.String())
			}
			return strings.Join(parts, ", ")
		}(),
		f: func(n string, v any) error {
			for _, x := range vs {
				if err := x.Validate(n, v); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
