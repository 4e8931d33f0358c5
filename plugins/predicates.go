package plugins

import (
	"regexp"
)

// TopicNameMatches is true for records whose whole topic name matches
// "pattern" (Kafka's TopicNameMatches).
type TopicNameMatches struct{ re *regexp.Regexp }

var topicNameMatchesDef = NewConfigDef().
	Define(ConfigKey{Name: "pattern", Type: ConfigString, Default: NoDefault, Validator: CompositeValidator(NonEmptyString(), regexValid), Importance: Medium,
		Documentation: "A Java regular expression for matching against the name of a record's topic."})

func (p *TopicNameMatches) ConfigDef() *ConfigDef { return topicNameMatchesDef }

func (p *TopicNameMatches) Configure(cfg Config) error {
	pc, err := topicNameMatchesDef.Parse(cfg)
	if err != nil {
		return err
	}
	p.re, err = regexp.Compile(`^(?:` + pc.String("pattern") + `)$`)
	return err
}

func (p *TopicNameMatches) Test(rec *Record) bool {
	return rec.Topic != "" && p.re.MatchString(rec.Topic)
}
func (p *TopicNameMatches) Close() error { return nil }

// HasHeaderKey is true for records with at least one header named "name"
// (Kafka's HasHeaderKey).
type HasHeaderKey struct{ name string }

var hasHeaderKeyDef = NewConfigDef().
	Define(ConfigKey{Name: "name", Type: ConfigString, Default: NoDefault, Validator: NonEmptyString(), Importance: Medium,
		Documentation: "The header name."})

func (p *HasHeaderKey) ConfigDef() *ConfigDef { return hasHeaderKeyDef }

func (p *HasHeaderKey) Configure(cfg Config) error {
	pc, err := hasHeaderKeyDef.Parse(cfg)
	if err != nil {
		return err
	}
	p.name = pc.String("name")
	return nil
}

func (p *HasHeaderKey) Test(rec *Record) bool {
	for _, h := range rec.Headers {
		if h.Key == p.name {
			return true
		}
	}
	return false
}
func (p *HasHeaderKey) Close() error { return nil }

// RecordIsTombstone is true for records whose value is nil (Kafka's
// RecordIsTombstone).
type RecordIsTombstone struct{}

func (RecordIsTombstone) ConfigDef() *ConfigDef  { return NewConfigDef() }
func (RecordIsTombstone) Configure(Config) error { return nil }
func (RecordIsTombstone) Test(rec *Record) bool  { return rec.Value == nil }
func (RecordIsTombstone) Close() error           { return nil }

func init() {
	for _, p := range []struct {
		name string
		doc  string
		mk   func() Predicate
	}{
		{"TopicNameMatches", "Records whose topic matches a regex", func() Predicate { return &TopicNameMatches{} }},
		{"HasHeaderKey", "Records with a given header", func() Predicate { return &HasHeaderKey{} }},
		{"RecordIsTombstone", "Tombstone records (null value)", func() Predicate { return RecordIsTombstone{} }},
	} {
		Register(Registration{Class: "org.apache.kafka.connect.transforms.predicates." + p.name, Type: PluginPredicate, Doc: p.doc,
			New: func() any { return p.mk() }})
	}
}
