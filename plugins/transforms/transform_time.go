package transforms

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// ---- TimestampConverter ----------------------------------------------

// TimestampConverter ($Key/$Value) converts a timestamp field (or the whole
// operand when "field" is empty) between string, unix, Date, Time and
// Timestamp representations (Kafka's TimestampConverter). Times are UTC;
// "format" is a java.text.SimpleDateFormat pattern.
type TimestampConverter struct {
	key         bool
	field       string
	target      string
	layout      string
	precision   string
	replaceNull bool
	cache       schemaCache
}

const (
	tsString    = "string"
	tsUnix      = "unix"
	tsDate      = "Date"
	tsTime      = "Time"
	tsTimestamp = "Timestamp"
)

var timestampConverterDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "field", Type: plugins.ConfigString, Default: "", Importance: plugins.High,
		Documentation: "The field containing the timestamp, or empty if the entire value is a timestamp"}).
	Define(plugins.ConfigKey{Name: "target.type", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.OneOf(tsString, tsUnix, tsDate, tsTime, tsTimestamp), Importance: plugins.High,
		Documentation: "The desired timestamp representation: string, unix, Date, Time, or Timestamp"}).
	Define(plugins.ConfigKey{Name: "format", Type: plugins.ConfigString, Default: "", Importance: plugins.Medium,
		Documentation: "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when type=string or used to parse the input if the input is a string."}).
	Define(plugins.ConfigKey{Name: "unix.precision", Type: plugins.ConfigString, Default: "milliseconds", Validator: plugins.OneOf("nanoseconds", "microseconds", "milliseconds", "seconds"), Importance: plugins.Low,
		Documentation: "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or nanoseconds. Used to generate the output when type=unix or used to parse the input if the input is a Long."}).
	Define(replaceNullKey)

func (t *TimestampConverter) ConfigDef() *plugins.ConfigDef { return timestampConverterDef }

func (t *TimestampConverter) Configure(cfg plugins.Config) error {
	p, err := timestampConverterDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.field, t.target, t.precision = p.String("field"), p.String("target.type"), p.String("unix.precision")
	t.replaceNull = p.Bool("replace.null.with.default")
	if f := p.String("format"); f != "" {
		if t.layout, err = javaDateLayout(f); err != nil {
			return err
		}
	} else if t.target == tsString {
		return errors.New("TimestampConverter requires format option to be specified when using string timestamps")
	}
	return nil
}

func (t *TimestampConverter) targetSchema(optional bool) *plugins.Schema {
	var s *plugins.Schema
	switch t.target {
	case tsString:
		s = &plugins.Schema{Type: plugins.TypeString}
	case tsUnix:
		s = &plugins.Schema{Type: plugins.TypeInt64}
	case tsDate:
		s = plugins.DateSchema()
	case tsTime:
		s = plugins.TimeSchema()
	default:
		s = plugins.TimestampSchema()
	}
	s.Optional = optional
	return s
}

// toTime reads v as a point in time; s (may be nil) tells its kind.
func (t *TimestampConverter) toTime(s *plugins.Schema, v any) (time.Time, error) {
	switch x := v.(type) {
	case time.Time:
		return x.UTC(), nil
	case int64:
		switch t.precision {
		case "seconds":
			return time.Unix(x, 0).UTC(), nil
		case "microseconds":
			return time.UnixMicro(x).UTC(), nil
		case "nanoseconds":
			return time.Unix(0, x).UTC(), nil
		}
		return time.UnixMilli(x).UTC(), nil
	case string:
		if t.layout == "" {
			return time.Time{}, errors.New("TimestampConverter requires format option to be specified when using string timestamps")
		}
		tm, err := time.ParseInLocation(t.layout, x, time.UTC)
		if err != nil {
			return time.Time{}, fmt.Errorf("could not parse timestamp: value (%s) does not match pattern: %w", x, err)
		}
		return tm.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("TimestampConverter does not support %T inputs (schema %s)", v, s)
}

func (t *TimestampConverter) fromTime(tm time.Time) any {
	switch t.target {
	case tsString:
		return tm.Format(t.layout)
	case tsUnix:
		switch t.precision {
		case "seconds":
			return tm.Unix()
		case "microseconds":
			return tm.UnixMicro()
		case "nanoseconds":
			return tm.UnixNano()
		}
		return tm.UnixMilli()
	case tsDate:
		y, m, d := tm.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case tsTime:
		return time.Date(1970, 1, 1, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1e6*1e6, time.UTC)
	}
	return tm
}

func (t *TimestampConverter) convert(s *plugins.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, err := t.toTime(s, v)
	if err != nil {
		return nil, err
	}
	return t.fromTime(tm), nil
}

func (t *TimestampConverter) Apply(rec *plugins.Record) (*plugins.Record, error) {
	schema, value := operand(rec, t.key)
	if t.field == "" {
		if value == nil && schema == nil {
			return rec, nil
		}
		v, err := t.convert(schema, value)
		if err != nil {
			return nil, err
		}
		var ns *plugins.Schema
		if schema != nil {
			ns = t.targetSchema(schema.Optional)
		}
		return withOperand(rec, t.key, ns, v), nil
	}
	if value == nil {
		return rec, nil
	}
	if schema == nil {
		m, err := requireMap(value, "converting timestamp formats")
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[k] = v
		}
		if v, ok := m[t.field]; ok {
			if out[t.field], err = t.convert(nil, v); err != nil {
				return nil, err
			}
		}
		return withOperand(rec, t.key, nil, out), nil
	}
	st, err := requireStruct(value, "converting timestamp formats")
	if err != nil {
		return nil, err
	}
	if schema.Field(t.field) == nil {
		return nil, fmt.Errorf("TimestampConverter: unknown field %q", t.field)
	}
	ns := t.cache.get(schema)
	if ns == nil {
		ns = copyStructBasics(schema)
		for _, f := range schema.Fields {
			if f.Name == t.field {
				addField(ns, f.Name, t.targetSchema(f.Schema.Optional))
			} else {
				addField(ns, f.Name, f.Schema)
			}
		}
		t.cache.put(schema, ns)
	}
	out := plugins.NewStruct(ns)
	for i := range schema.Fields {
		f := &schema.Fields[i]
		v := fieldValue(st, f, t.replaceNull)
		if f.Name == t.field {
			if v, err = t.convert(f.Schema, v); err != nil {
				return nil, err
			}
		}
		values(out)[i] = v
	}
	return withOperand(rec, t.key, ns, out), nil
}

func (t *TimestampConverter) Close() error { return nil }

// ---- TimestampRouter -------------------------------------------------

// TimestampRouter rewrites the topic as topic.format with ${topic} and
// ${timestamp} (the record timestamp in timestamp.format, UTC) replaced
// (Kafka's TimestampRouter).
type TimestampRouter struct {
	format, layout string
}

var timestampRouterDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "topic.format", Type: plugins.ConfigString, Default: "${topic}-${timestamp}", Importance: plugins.High,
		Documentation: "Format string which can contain ${topic} and ${timestamp} as placeholders for the topic and timestamp, respectively."}).
	Define(plugins.ConfigKey{Name: "timestamp.format", Type: plugins.ConfigString, Default: "yyyyMMdd", Importance: plugins.High,
		Documentation: "Format string for the timestamp that is compatible with java.text.SimpleDateFormat."})

func (t *TimestampRouter) ConfigDef() *plugins.ConfigDef { return timestampRouterDef }

func (t *TimestampRouter) Configure(cfg plugins.Config) error {
	p, err := timestampRouterDef.Parse(cfg)
	if err != nil {
		return err
	}
	t.format = p.String("topic.format")
	t.layout, err = javaDateLayout(p.String("timestamp.format"))
	return err
}

func (t *TimestampRouter) Apply(rec *plugins.Record) (*plugins.Record, error) {
	if rec.Timestamp.IsZero() {
		return nil, fmt.Errorf("Timestamp missing on record: topic %s", rec.Topic)
	}
	ts := rec.Timestamp.UTC().Format(t.layout)
	r := *rec
	r.Topic = strings.ReplaceAll(strings.ReplaceAll(t.format, "${topic}", rec.Topic), "${timestamp}", ts)
	return &r, nil
}

func (t *TimestampRouter) Close() error { return nil }

// ---- RegexRouter -----------------------------------------------------

// RegexRouter renames the topic when the whole topic matches regex; the
// replacement uses Java's syntax ($1, ${name}, \$ for a literal $)
// (Kafka's RegexRouter).
type RegexRouter struct {
	re   *regexp.Regexp
	tmpl string
}

var regexValid = plugins.ValidatorFunc("valid regex", func(_ string, v any) error {
	s, _ := v.(string)
	_, err := regexp.Compile(s)
	return err
})

var regexRouterDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "regex", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: regexValid, Importance: plugins.High,
		Documentation: "Regular expression to use for matching."}).
	Define(plugins.ConfigKey{Name: "replacement", Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High,
		Documentation: "Replacement string."})

func (t *RegexRouter) ConfigDef() *plugins.ConfigDef { return regexRouterDef }

func (t *RegexRouter) Configure(cfg plugins.Config) error {
	p, err := regexRouterDef.Parse(cfg)
	if err != nil {
		return err
	}
	if t.re, err = regexp.Compile(`^(?:` + p.String("regex") + `)$`); err != nil {
		return err
	}
	t.tmpl = javaReplacement(p.String("replacement"))
	return nil
}

// javaReplacement turns a java.util.regex replacement into a Go template.
func javaReplacement(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(s[i])
			}
		case c == '$' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(s[i+1 : j])
			b.WriteString("${" + strconv.Itoa(n) + "}")
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (t *RegexRouter) Apply(rec *plugins.Record) (*plugins.Record, error) {
	m := t.re.FindStringSubmatchIndex(rec.Topic)
	if m == nil {
		return rec, nil
	}
	r := *rec
	r.Topic = string(t.re.ExpandString(nil, t.tmpl, rec.Topic, m))
	return &r, nil
}

func (t *RegexRouter) Close() error { return nil }

func init() {
	registerKV("TimestampConverter", "Convert timestamps between string, unix, Date, Time and Timestamp", func(k bool) plugins.Transform { return &TimestampConverter{key: k} })
	registerTransform("TimestampRouter", "Route records to topics named after their timestamp", func() plugins.Transform { return &TimestampRouter{} })
	registerTransform("RegexRouter", "Rename topics with a regular expression", func() plugins.Transform { return &RegexRouter{} })
}
