// Package transforms holds Kafka Connect's single message transforms
// (org.apache.kafka.connect.transforms.*): InsertField, ReplaceField,
// MaskField, ValueToKey, HoistField, ExtractField, Cast, Flatten,
// TimestampConverter, HeaderFrom (each as $Key and $Value), TimestampRouter,
// RegexRouter, InsertHeader, DropHeaders and Filter, with Kafka's config keys
// and behaviour. Importing the package registers them in plugins.Default
// under Kafka's class names and their simple-name aliases.
//
// Every transform follows the Transform contract in package plugins: it
// returns a modified copy (or nil to drop the record) and never changes its
// input; an instance belongs to one task. They copy struct fields that are
// already valid without re-validating them (see plugins/internal/structs).
//
// chain_test.go tests plugins.BuildTransformChain with these real
// transforms and the predicates of package predicates.
package transforms
