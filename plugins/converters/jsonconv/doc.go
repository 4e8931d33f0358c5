// Package jsonconv is Kafka Connect's JsonConverter
// (org.apache.kafka.connect.json.JsonConverter, alias "json"): with
// schemas.enable=true (the default) every message is an envelope
// {"schema":…,"payload":…}, with false the bare JSON payload. Importing the
// package registers it in plugins.Default.
//
// # Byte compatibility
//
// JSONConverter writes what Kafka's JsonConverter writes for the same data
// (field order of schemas, Java float formatting, base64 bytes, envelope),
// so topics can be shared between weir and Kafka Connect workers. See
// jsonenc.go for the details and converter_json.go for the two deliberate
// differences. ToConnect reads untrusted bytes with jsontext
// (github.com/go-json-experiment/json, encoding/json/v2's tokenizer) set to
// accept what encoding/json accepts; payloads are decoded straight into
// Connect values under their schema (decode.go), with a tree walk
// (jsonparse.go) as the reference it falls back on. It is fuzzed
// (FuzzJSONParse against encoding/json, FuzzJSONDirect, FuzzJSONToConnect,
// seeds in testdata/).
//
// A JSONConverter is configured once and then used from one goroutine at a
// time (the runtime creates one per task and side). It keeps state between
// records to make the sink path cheap: parsed envelope schemas keyed by
// their bytes (schemas.cache.size), the last schema's bytes (recognised
// without a rescan), its decoder and scratch and a bounded table of
// interned object keys. None of it changes what a record decodes to
// (FuzzJSONSchemaCache checks a warmed converter against an uncached one).
//
// # Pass-through
//
// ToConnectRawJSON (plugins.RawJSONConverter, rawjson.go) hands a sink
// that writes JSON lines an envelope's payload as its text, without
// building Connect values, when the payload is byte for byte what
// ToConnect and a schemas.enable=false FromConnect would write for it
// (which also means it is valid under its schema); anything else is left
// to ToConnect. FuzzJSONRawPass checks that rule.
package jsonconv
