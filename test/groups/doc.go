// Package groups tests weir's group coordinator with a real Kafka client
// (franz-go kgo and kadm) against an in-process broker: consumer groups
// joining and leaving under eager and cooperative rebalancing, static
// membership, committed offsets across a broker restart, and the group
// admin APIs.
package groups
