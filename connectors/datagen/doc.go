// Package datagen is a source connector that generates mock records, for
// demos, load tests and pipeline smoke tests — in the spirit of
// Confluent's kafka-connect-datagen, with a few built-in "quickstart"
// schemas instead of Avro schema files. Importing the package registers it
// as io.weir.connect.datagen.DatagenConnector (aliases DatagenConnector,
// Datagen, datagen).
//
// Keys: "topic" (or "kafka.topic"), "quickstart" (users, pageviews,
// orders), "max.records" (or "iterations"; total across tasks, -1 for no
// limit), "interval.ms" (or "max.interval"; pause between records, 0 for
// as fast as batches allow), "batch.size", "random.seed" (0: seed from
// the clock). Records carry a STRING key and a STRUCT value. Each task
// stores {"task": <id>} → {"iteration": <n>} as its source offset, so a
// restarted task continues the count and honours max.records across
// restarts; with random.seed set the generated data is deterministic per
// task and iteration.
package datagen
