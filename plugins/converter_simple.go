package plugins

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// StringConverter is Kafka's StringConverter: FromConnect writes the
// value's string form in UTF-8 (nil stays nil); ToConnect returns the bytes
// as an optional STRING. Only UTF-8 is supported for converter.encoding.
type StringConverter struct{}

// StringConverter configuration keys.
const StringConverterEncoding = "converter.encoding"

var stringConverterDef = NewConfigDef().
	Define(ConfigKey{Name: StringConverterEncoding, Type: ConfigString, Default: "UTF-8", Importance: High,
		Validator:     OneOfIgnoreCase("UTF-8", "UTF8"),
		Documentation: "The name of the Java character set to use for encoding strings as byte arrays (weir supports UTF-8 only).",
		Group:         "Converter", OrderInGroup: 1, DisplayName: "Character encoding"})

// ConfigDef implements ConfigDefProvider.
func (StringConverter) ConfigDef() *ConfigDef { return stringConverterDef }

// Configure implements Converter.
func (StringConverter) Configure(cfg Config, isKey bool) error {
	enc := cfg[StringConverterEncoding]
	if isKey && cfg["key.converter.encoding"] != "" {
		enc = cfg["key.converter.encoding"]
	}
	if !isKey && cfg["value.converter.encoding"] != "" {
		enc = cfg["value.converter.encoding"]
	}
	if enc != "" && !strings.EqualFold(enc, "UTF-8") && !strings.EqualFold(enc, "UTF8") {
		return fmt.Errorf("configure StringConverter: unsupported encoding %q (only UTF-8)", enc)
	}
	return nil
}

// FromConnect implements Converter.
func (StringConverter) FromConnect(topic string, schema *Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	return []byte(ValueString(value)), nil
}

// ToConnect implements Converter.
func (StringConverter) ToConnect(topic string, data []byte) (*Schema, any, error) {
	if data == nil {
		return OptionalStringSchema, nil, nil
	}
	return OptionalStringSchema, string(data), nil
}

// ValueString renders Connect data the way Java's toString does for the
// matching Kafka types (floats as Double.toString, Struct{a=1}, lists
// [a, b], maps {k=v}); []byte is taken as UTF-8 text.
func ValueString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	case float32:
		return javaFloat(float64(x), 32)
	case float64:
		return javaFloat(x, 64)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case *big.Rat:
		return x.FloatString(ratScale(x))
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *Struct:
		var b strings.Builder
		b.WriteString("Struct{")
		first := true
		for i, f := range x.schema.Fields {
			if x.values[i] == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(f.Name + "=" + ValueString(x.values[i]))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = ValueString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + ValueString(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// ratScale returns the number of fractional digits needed to print r
// exactly (capped; non-terminating fractions print with 18 digits).
func ratScale(r *big.Rat) int {
	for s := 0; s <= 18; s++ {
		if _, err := unscaled(r, s); err == nil {
			return s
		}
	}
	return 18
}

// ByteArrayConverter is Kafka's ByteArrayConverter: bytes pass through
// unchanged; the schema must be nil or BYTES.
type ByteArrayConverter struct{}

// Configure implements Converter.
func (ByteArrayConverter) Configure(Config, bool) error { return nil }

// FromConnect implements Converter.
func (ByteArrayConverter) FromConnect(topic string, schema *Schema, value any) ([]byte, error) {
	if schema != nil && schema.Type != TypeBytes {
		return nil, fmt.Errorf("invalid schema type for ByteArrayConverter: %s", schema.Type)
	}
	if value == nil {
		return nil, nil
	}
	b, ok := value.([]byte)
	if !ok {
		return nil, fmt.Errorf("ByteArrayConverter is not compatible with objects of type %T", value)
	}
	return b, nil
}

// ToConnect implements Converter. The returned slice is data itself.
func (ByteArrayConverter) ToConnect(topic string, data []byte) (*Schema, any, error) {
	if data == nil {
		return OptionalBytesSchema, nil, nil
	}
	return OptionalBytesSchema, data, nil
}

func init() {
	Register(Registration{Class: "org.apache.kafka.connect.json.JsonConverter", Type: PluginConverter,
		Aliases: []string{"json"}, Doc: "JSON with optional schema envelope",
		New: func() any { return NewJSONConverter() }})
	Register(Registration{Class: "org.apache.kafka.connect.storage.StringConverter", Type: PluginConverter,
		Aliases: []string{"string"}, Doc: "UTF-8 strings",
		New: func() any { return StringConverter{} }})
	Register(Registration{Class: "org.apache.kafka.connect.converters.ByteArrayConverter", Type: PluginConverter,
		Aliases: []string{"bytearray", "bytes"}, Doc: "raw bytes, unchanged",
		New: func() any { return ByteArrayConverter{} }})
}
