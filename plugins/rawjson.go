package plugins

// JSON pass-through: a sink that writes the JSON it is given (the storage
// sinks' JsonFormat) need not have the runtime decode a JsonConverter
// payload into Connect values only to encode the same values again; with
// 1 KiB records that round trip was a third of such a sink's CPU. The two
// optional interfaces below let the runtime hand the payload over as it
// is, and only when both ends agree and nothing in between (a transform,
// a predicate) reads the value.

// RawJSON is a record value (or key) held as its JSON text: one compact
// JSON value, without whitespace or newlines, that is byte for byte what
// the JsonConverter (schemas.enable=false) writes for the Connect value
// it stands for, under the record's ValueSchema (KeySchema); never a
// JSON null: a null is nil. It may alias the Kafka record's bytes: a task that keeps
// it beyond Put keeps those bytes alive, and must not modify them.
// Only a sink that declared RawJSONSink receives it.
type RawJSON []byte

// String is the JSON text (log lines with errors.log.include.messages).
func (r RawJSON) String() string { return string(r) }

// RawJSONConverter is implemented by a value converter that can give a
// record's payload as RawJSON without decoding it (the JsonConverter).
type RawJSONConverter interface {
	// ToConnectRawJSON returns the schema and payload of data when the
	// payload can be passed on as it is: decoding it with ToConnect
	// would succeed, and encoding the result again would write exactly
	// payload. ok false: anything else (an error, a null, a payload that
	// is not written as the converter writes it, no schema, ...); the
	// caller then uses ToConnect, which decides. It never fails, so the
	// errors and their handling stay ToConnect's. Same goroutine rules as
	// ToConnect; the result may alias data.
	ToConnectRawJSON(topic string, data []byte) (schema *Schema, payload RawJSON, ok bool)
}

// RawJSONSink is implemented by a SinkTask that can take RawJSON record
// keys and values. The runtime asks once, after Start returned, and then
// hands RawJSON keys (values) to Put only when the connector has no
// transforms (nor predicates) and its key (value) converter is a
// RawJSONConverter; any record the converter declines arrives decoded,
// as usual, so a task answering true must take both. A task answers true
// only when nothing it does with a record reads the key or the value
// beyond writing its JSON text (and ErrantRecordReporter, which the
// runtime handles): a storage sink's JsonFormat writes values and never
// reads keys, which then cost no decoding either.
type RawJSONSink interface {
	AcceptsRawJSON() bool
}
