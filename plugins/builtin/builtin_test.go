package builtin_test

import (
	"testing"

	"github.com/weirlog/weir/plugins"
	_ "github.com/weirlog/weir/plugins/builtin"
)

func TestRegistryKafkaClassNames(t *testing.T) {
	tests := []struct {
		name string
		typ  plugins.PluginType
	}{
		{"org.apache.kafka.connect.json.JsonConverter", plugins.PluginConverter},
		{"org.apache.kafka.connect.storage.StringConverter", plugins.PluginConverter},
		{"org.apache.kafka.connect.converters.ByteArrayConverter", plugins.PluginConverter},
		{"JsonConverter", plugins.PluginConverter},
		{"json", plugins.PluginConverter},
		{"org.apache.kafka.connect.transforms.predicates.TopicNameMatches", plugins.PluginPredicate},
		{"org.apache.kafka.connect.transforms.predicates.HasHeaderKey", plugins.PluginPredicate},
		{"org.apache.kafka.connect.transforms.predicates.RecordIsTombstone", plugins.PluginPredicate},
		{"TopicNameMatches", plugins.PluginPredicate},
		{"org.apache.kafka.connect.transforms.Filter", plugins.PluginTransform},
		{"org.apache.kafka.connect.transforms.ValueToKey", plugins.PluginTransform},
		{"org.apache.kafka.connect.transforms.RegexRouter", plugins.PluginTransform},
		{"org.apache.kafka.connect.transforms.TimestampRouter", plugins.PluginTransform},
		{"org.apache.kafka.connect.transforms.InsertHeader", plugins.PluginTransform},
		{"org.apache.kafka.connect.transforms.DropHeaders", plugins.PluginTransform},
		{"InsertField$Value", plugins.PluginTransform},
	}
	for _, kv := range []string{"InsertField", "ReplaceField", "MaskField", "HoistField", "ExtractField", "Cast", "Flatten", "TimestampConverter", "HeaderFrom"} {
		for _, side := range []string{"$Key", "$Value"} {
			tests = append(tests, struct {
				name string
				typ  plugins.PluginType
			}{"org.apache.kafka.connect.transforms." + kv + side, plugins.PluginTransform})
		}
	}
	for _, tc := range tests {
		r, ok := plugins.Lookup(tc.name)
		if !ok {
			t.Errorf("Lookup(%q) found nothing", tc.name)
			continue
		}
		if r.Type != tc.typ {
			t.Errorf("Lookup(%q).Type = %s, want %s", tc.name, r.Type, tc.typ)
		}
		v := r.New()
		switch tc.typ {
		case plugins.PluginTransform:
			tr, ok := v.(plugins.Transform)
			if !ok {
				t.Errorf("%s: New() is %T, not a Transform", tc.name, v)
			} else if tr.ConfigDef() == nil {
				t.Errorf("%s: nil ConfigDef", tc.name)
			}
		case plugins.PluginPredicate:
			if _, ok := v.(plugins.Predicate); !ok {
				t.Errorf("%s: New() is %T, not a Predicate", tc.name, v)
			}
		case plugins.PluginConverter:
			if _, ok := v.(plugins.Converter); !ok {
				t.Errorf("%s: New() is %T, not a Converter", tc.name, v)
			}
		}
	}
}
