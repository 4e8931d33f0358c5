// Package converters holds Kafka Connect's simple converters:
// StringConverter (org.apache.kafka.connect.storage.StringConverter, alias
// "string") and ByteArrayConverter
// (org.apache.kafka.connect.converters.ByteArrayConverter, aliases
// "bytearray", "bytes"). Importing the package registers both in
// plugins.Default; the JSON converter lives in converters/jsonconv.
//
// Both are stateless values, safe to share, and follow the Converter
// contract in package plugins.
package converters
