package converters

import (
	"fmt"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// StringConverter is Kafka's StringConverter: FromConnect writes the
// value's string form in UTF-8 (nil stays nil); ToConnect returns the bytes
// as an optional STRING. Only UTF-8 is supported for converter.encoding.
type StringConverter struct{}

// StringConverter configuration keys.
const StringConverterEncoding = "converter.encoding"

var stringConverterDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: StringConverterEncoding, Type: plugins.ConfigString, Default: "UTF-8", Importance: plugins.High,
		Validator:     plugins.OneOfIgnoreCase("UTF-8", "UTF8"),
		Documentation: "The name of the Java character set to use for encoding strings as byte arrays (weir supports UTF-8 only).",
		Group:         "Converter", OrderInGroup: 1, DisplayName: "Character encoding"})

// ConfigDef implements ConfigDefProvider.
func (StringConverter) ConfigDef() *plugins.ConfigDef { return stringConverterDef }

// Configure implements Converter.
func (StringConverter) Configure(cfg plugins.Config, isKey bool) error {
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
func (StringConverter) FromConnect(topic string, schema *plugins.Schema, value any) ([]byte, error) {
	if value == nil {
		return nil, nil
	}
	return []byte(plugins.ValueString(value)), nil
}

// ToConnect implements Converter.
func (StringConverter) ToConnect(topic string, data []byte) (*plugins.Schema, any, error) {
	if data == nil {
		return plugins.OptionalStringSchema, nil, nil
	}
	return plugins.OptionalStringSchema, string(data), nil
}

// ByteArrayConverter is Kafka's ByteArrayConverter: bytes pass through
// unchanged; the schema must be nil or BYTES.
type ByteArrayConverter struct{}

// Configure implements Converter.
func (ByteArrayConverter) Configure(plugins.Config, bool) error { return nil }

// FromConnect implements Converter.
func (ByteArrayConverter) FromConnect(topic string, schema *plugins.Schema, value any) ([]byte, error) {
	if schema != nil && schema.Type != plugins.TypeBytes {
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
func (ByteArrayConverter) ToConnect(topic string, data []byte) (*plugins.Schema, any, error) {
	if data == nil {
		return plugins.OptionalBytesSchema, nil, nil
	}
	return plugins.OptionalBytesSchema, data, nil
}

func init() {
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.storage.StringConverter", Type: plugins.PluginConverter,
		Aliases: []string{"string"}, Doc: "UTF-8 strings",
		New: func() any { return StringConverter{} }})
	plugins.Register(plugins.Registration{Class: "org.apache.kafka.connect.converters.ByteArrayConverter", Type: plugins.PluginConverter,
		Aliases: []string{"bytearray", "bytes"}, Doc: "raw bytes, unchanged",
		New: func() any { return ByteArrayConverter{} }})
}
