// Package plugins is weir's connector SDK: the contract between the
// runtime (runtime/) and everything it runs — connectors, converters,
// single message transforms (SMTs) and predicates — plus the built-in
// converters, transforms and predicates themselves. It is modelled on Kafka
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
// short names). Importing a connector package registers it; importing this
// package registers the built-in converters, transforms and predicates.
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
// # Byte compatibility
//
// JSONConverter writes what Kafka's JsonConverter writes for the same data
// (field order of schemas, Java float formatting, base64 bytes, envelope),
// so topics can be shared between weir and Kafka Connect workers. See
// jsonenc.go for the details and the two deliberate differences.
package plugins
