// Package plugins is weir's connector SDK: the contract between the
// runtime (runtime/) and everything it runs — connectors, converters,
// single message transforms (SMTs) and predicates. It is the small surface a
// plugin author depends on: the interfaces with their contracts (sdk.go),
// Record, Schema/Struct and the logical types, ConfigDef, and the registry.
// The built-in plugins live in packages of their own beside it —
// converters (String, ByteArray), converters/jsonconv (JSON), transforms and
// predicates — and plugins/builtin imports them all. It is modelled on Kafka
// Connect's public API (connect/api, connect/transforms, connect/json) so
// that Kafka Connect users find the same concepts, config keys and data
// formats; it imports neither runtime nor core.
//
// # Data model
//
// Connect data is a Go value described by an optional *Schema (nil means
// schemaless): nil, bool, int8/16/32/64, float32/64, string, []byte, []any,
// map[string]any (map[any]any for maps whose key schema is not STRING),
// *Struct, and for the logical types time.Time (Date, Time, Timestamp) and
// *big.Rat (Decimal). ValidateValue checks a value against a schema;
// Struct.Put validates on every write, so a *Struct is always well-typed.
// Schemas and records handed between plugins are treated as immutable:
// transforms return modified copies and never change their input.
//
// # Configuration
//
// Every plugin describes its keys with a *ConfigDef (type, default,
// importance, documentation, group, validators). ConfigDef.Parse turns a
// raw Config (map of strings, as in Kafka Connect) into typed values;
// ConfigDef.Validate reports per-key errors; KeyInfos and ValidateInfos
// produce the JSON shapes of Kafka Connect's
// GET /connector-plugins/{p}/config and PUT …/config/validate.
//
// # Registry
//
// Plugins register in init() into Default under their class name — Kafka's
// fully qualified class name where weir ships an equivalent, e.g.
// org.apache.kafka.connect.transforms.InsertField$Value — and aliases (the
// simple class name, the connector name without "Connector", and explicit
// short names). Importing a plugin's package registers it: a connector
// package registers its connectors, plugins/builtin the standard
// converters, transforms and predicates (the runtime imports it).
//
// # Threading
//
// The runtime honours the rules written on each interface in sdk.go:
// a connector's methods are called from one goroutine at a time; a task's
// Poll/Put run on the task's goroutine and Stop may come from another;
// transforms, predicates and converters are per task and never shared
// between goroutines. ConfigDefs and the Registry are safe for concurrent
// use once built.
//
// # JSON pass-through
//
// A sink task that only writes its values' JSON (the storage sinks'
// JsonFormat) may implement RawJSONSink; with a value converter that
// implements RawJSONConverter (the JsonConverter) and no transforms, the
// runtime then hands it values as RawJSON, the payload's text, instead
// of decoding them to encode them again (rawjson.go).
//
// # Text form
//
// ValueString prints Connect data as Java's toString does for the matching
// Kafka types (floats as Double.toString), which is what StringConverter
// writes and FileStreamSink prints.
package plugins
