package predicates

import (
	"regexp"

	"github.com/weirlog/weir/plugins"
)

// TopicNameMatches is true for records whose whole topic name matches
// "pattern" (Kafka's TopicNameMatches).
type TopicNameMatches struct{ re *regexp.Regexp }

var topicNameMatchesDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "pattern", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.CompositeValidator(plugins.NonEmptyString(), regexValid), Importance: plugins.Medium,
		Documentation: "A Java regular expression for matching against the name of a record's topic."})

func (p *TopicNameMatches) ConfigDef() *plugins.ConfigDef { return topicNameMatchesDef }

func (p *TopicNameMatches) Configure(cfg plugins.Config) error {
	pc, err := topicNameMatchesDef.Parse(cfg)
	if err != nil {
		return err
	}
	p.re, err = regexp.Compile(`^(?:` + pc.String("pattern") + `)$`)
	return err
}

func (p *TopicNameMatches) Test(rec *plugins.Record) bool {
	return rec.Topic != "" && p.re.MatchString(rec.Topic)
}
func (p *TopicNameMatches) Close() error { return nil }

// HasHeaderKey is true for records with at least one header named "name"
// (Kafka's HasHeaderKey).
type HasHeaderKey struct{ name string }

var hasHeaderKeyDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: "name", Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.Medium,
		Documentation: "The header name."})

func (p *HasHeaderKey) ConfigDef() *plugins.ConfigDef { return hasHeaderKeyDef }

func (p *HasHeaderKey) Configure(cfg plugins.Config) error {
	pc, err := hasHeaderKeyDef.Parse(cfg)
	if err != nil {
		return err
	}
	p.name = pc.String("name")
	return nil
}

func (p *HasHeaderKey) Test(rec *plugins.Record) bool {
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

func (RecordIsTombstone) ConfigDef() *plugins.ConfigDef  { return plugins.NewConfigDef() }
func (RecordIsTombstone) Configure(plugins.Config) error { return nil }
func (RecordIsTombstone) Test(rec *plugins.Record) bool  { return rec.Value == nil }
func (RecordIsTombstone) Close() error                   { return nil }

func init() {
	for _, p := range []struct {
		name string
		doc  string
		mk   func() plugins.Predicate
	}{
		{"TopicNameMatches", "Records whose topic matches a regex", func() plugins.Predicate { return &TopicNameMatches{} }},
		{"HasHeaderKey", "Records with a given header", func() plugins.Predicate { return &HasHeaderKey{} }},
		{"RecordIsTombstone", "Tombstone records (null value)", func() plugins.Predicate { return RecordIsTombstone{} }},
	} {
		plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.transforms.predicates." + p.name, Type: plugins.PluginPredicate, Doc: p.doc,
			New: func() any { return p.mk() }})
	}
}

var regexValid = plugins.ValidatorFunc("valid regex", func(_ string, v any) error {
	s, _ := v.(string)
	_, err := regexp.Compile(s)
	return err
})
