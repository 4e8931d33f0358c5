package plugins

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func testDef() *ConfigDef {
	return NewConfigDef().
		Define(ConfigKey{Name: "url", Type: ConfigString, Default: NoDefault, Validator: NonEmptyString(), Importance: High, Group: "Connection", OrderInGroup: 1, Documentation: "Where to connect."}).
		Define(ConfigKey{Name: "password", Type: ConfigPassword, Importance: High, Group: "Connection", OrderInGroup: 2}).
		Define(ConfigKey{Name: "batch", Type: ConfigInt, Default: 100, Validator: Between(1, 1000), Group: "Tuning"}).
		Define(ConfigKey{Name: "timeout.ms", Type: ConfigLong, Default: "30000", Validator: AtLeast(0)}).
		Define(ConfigKey{Name: "ratio", Type: ConfigDouble, Default: 0.5}).
		Define(ConfigKey{Name: "enabled", Type: ConfigBoolean, Default: true}).
		Define(ConfigKey{Name: "mode", Type: ConfigString, Default: "bulk", Validator: OneOf("bulk", "incrementing", "timestamp")}).
		Define(ConfigKey{Name: "tables", Type: ConfigList, Default: ""}).
		Define(ConfigKey{Name: "prefix", Type: ConfigString, Default: "p", Validator: MatchesRegex(`[a-z]+`)}).
		Define(ConfigKey{Name: "class", Type: ConfigClass})
}

func TestConfigDefParse(t *testing.T) {
	p, err := testDef().Parse(Config{"url": " jdbc:x ", "password": "s3cret", "batch": "5", "tables": "a, b ,c", "enabled": "FALSE", "ratio": "2.5", "unknown": "kept"})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		got, want any
	}{
		{p.String("url"), "jdbc:x"},
		{p.Password("password"), Password("s3cret")},
		{p.Int("batch"), 5},
		{p.Long("timeout.ms"), int64(30000)},
		{p.Double("ratio"), 2.5},
		{p.Bool("enabled"), false},
		{p.String("mode"), "bulk"},
		{p.List("tables"), []string{"a", "b", "c"}},
		{p.Get("class"), nil},
		{p.Raw()["unknown"], "kept"},
	}
	for i, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("check %d: got %#v, want %#v", i, c.got, c.want)
		}
	}
	if s := Password("s3cret").String(); s != "[hidden]" {
		t.Errorf("Password prints as %q", s)
	}
}

func TestConfigDefValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		key  string
		err  string // substring; "" means no error on key
	}{
		{"missing required", Config{}, "url", `Missing required configuration "url" which has no default value.`},
		{"empty string", Config{"url": ""}, "url", "String may not be empty"},
		{"not an int", Config{"url": "x", "batch": "ten"}, "batch", "Invalid value ten for configuration batch: Not a number of type INT"},
		{"out of range", Config{"url": "x", "batch": "0"}, "batch", "Value must be at least 1"},
		{"above range", Config{"url": "x", "batch": "1001"}, "batch", "Value must be no more than 1000"},
		{"in range", Config{"url": "x", "batch": "1000"}, "batch", ""},
		{"int overflow", Config{"url": "x", "batch": "3000000000"}, "batch", "Not a number of type INT"},
		{"negative long", Config{"url": "x", "timeout.ms": "-1"}, "timeout.ms", "at least 0"},
		{"bad bool", Config{"url": "x", "enabled": "yes"}, "enabled", "either true or false"},
		{"bad double", Config{"url": "x", "ratio": "half"}, "ratio", "DOUBLE"},
		{"one of", Config{"url": "x", "mode": "upsert"}, "mode", "String must be one of: bulk, incrementing, timestamp"},
		{"one of ok", Config{"url": "x", "mode": "timestamp"}, "mode", ""},
		{"regex", Config{"url": "x", "prefix": "A1"}, "prefix", "must match pattern"},
		{"password hidden in errors", Config{"url": "x", "password": "x"}, "password", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vals := testDef().Validate(tc.cfg)
			var got []string
			for _, v := range vals {
				if v.Name == tc.key {
					got = v.Errors
				}
			}
			if tc.err == "" {
				if len(got) != 0 {
					t.Fatalf("errors on %s: %v", tc.key, got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tc.err) {
				t.Fatalf("errors on %s = %q, want one containing %q", tc.key, got, tc.err)
			}
			if _, err := testDef().Parse(tc.cfg); err == nil {
				t.Fatal("Parse succeeded where Validate failed")
			}
		})
	}
}

func TestConfigDefDuplicatePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("defining a key twice did not panic")
		}
	}()
	NewConfigDef().Define(ConfigKey{Name: "a"}).Define(ConfigKey{Name: "a"})
}

func TestKeyInfosJSON(t *testing.T) {
	b, err := json.Marshal(testDef().KeyInfos()[:3])
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"name":"url","type":"STRING","required":true,"default_value":null,"importance":"HIGH","documentation":"Where to connect.","group":"Connection","width":"NONE","display_name":"url","dependents":[],"order":1},` +
		`{"name":"password","type":"PASSWORD","required":false,"default_value":null,"importance":"HIGH","documentation":"","group":"Connection","width":"NONE","display_name":"password","dependents":[],"order":2},` +
		`{"name":"batch","type":"INT","required":false,"default_value":"100","importance":"MEDIUM","documentation":"","group":"Tuning","width":"NONE","display_name":"batch","dependents":[],"order":0}]`
	if string(b) != want {
		t.Fatalf("KeyInfos JSON\n got %s\nwant %s", b, want)
	}
}

func TestValidateInfosJSON(t *testing.T) {
	def := NewConfigDef().
		Define(ConfigKey{Name: "file", Type: ConfigString, Importance: High, Documentation: "Source filename."}).
		Define(ConfigKey{Name: "topic", Type: ConfigString, Default: NoDefault, Importance: High, Group: "Common", Documentation: "The topic."}).
		Define(ConfigKey{Name: "mode", Type: ConfigString, Default: "a", Validator: OneOf("a", "b"), Group: "Common", OrderInGroup: 2}).
		Define(ConfigKey{Name: "secret", Type: ConfigPassword, Importance: Low, Group: "Common", OrderInGroup: 3}).
		Define(ConfigKey{Name: "internal", Type: ConfigString, Internal: true})
	infos := def.ValidateInfos("org.example.Conn", Config{"file": "/tmp/x", "mode": "c", "secret": "pw"})
	b, err := json.Marshal(infos)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"org.example.Conn","error_count":2,"groups":["Common"],"configs":[` +
		`{"definition":{"name":"file","type":"STRING","required":false,"default_value":null,"importance":"HIGH","documentation":"Source filename.","group":null,"width":"NONE","display_name":"file","dependents":[],"order":-1},"value":{"name":"file","value":"/tmp/x","recommended_values":[],"errors":[],"visible":true}},` +
		`{"definition":{"name":"topic","type":"STRING","required":true,"default_value":null,"importance":"HIGH","documentation":"The topic.","group":"Common","width":"NONE","display_name":"topic","dependents":[],"order":0},"value":{"name":"topic","value":null,"recommended_values":[],"errors":["Missing required configuration \"topic\" which has no default value."],"visible":true}},` +
		`{"definition":{"name":"mode","type":"STRING","required":false,"default_value":"a","importance":"MEDIUM","documentation":"","group":"Common","width":"NONE","display_name":"mode","dependents":[],"order":2},"value":{"name":"mode","value":"c","recommended_values":["a","b"],"errors":["Invalid value c for configuration mode: String must be one of: a, b"],"visible":true}},` +
		`{"definition":{"name":"secret","type":"PASSWORD","required":false,"default_value":null,"importance":"LOW","documentation":"","group":"Common","width":"NONE","display_name":"secret","dependents":[],"order":3},"value":{"name":"secret","value":"[hidden]","recommended_values":[],"errors":[],"visible":true}}]}`
	if string(b) != want {
		t.Fatalf("ValidateInfos JSON\n got %s\nwant %s", b, want)
	}
	infos.AddErrors("topic", "extra")
	infos.AddErrors("transforms.x.type", "Class y could not be found")
	if infos.ErrorCount != 4 || len(infos.Configs) != 5 {
		t.Fatalf("after AddErrors: error_count=%d configs=%d", infos.ErrorCount, len(infos.Configs))
	}
}

func TestConfigDefMerge(t *testing.T) {
	a := NewConfigDef().Define(ConfigKey{Name: "x", Default: "1"}).Define(ConfigKey{Name: "y"})
	b := NewConfigDef().Define(ConfigKey{Name: "y", Default: "other"}).Define(ConfigKey{Name: "z"})
	m := a.Merge(b)
	var names []string
	for _, k := range m.Keys() {
		names = append(names, k.Name)
	}
	if !reflect.DeepEqual(names, []string{"x", "y", "z"}) {
		t.Fatalf("merged keys %v", names)
	}
	if k, _ := m.Key("y"); k.Default != nil {
		t.Fatalf("merge let the second definition win: %v", k.Default)
	}
}
