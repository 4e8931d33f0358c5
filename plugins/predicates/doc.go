// Package predicates holds Kafka Connect's transform predicates
// (org.apache.kafka.connect.transforms.predicates.*): TopicNameMatches,
// HasHeaderKey and RecordIsTombstone. Importing the package registers them
// in plugins.Default. A predicate gates a transform in a chain
// (transforms.<alias>.predicate, .negate); see plugins.BuildTransformChain.
package predicates
