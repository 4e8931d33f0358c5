// Package stomp holds weir's StompSource and StompSink connectors: any
// STOMP 1.1/1.2 broker, Apache ActiveMQ first, as a source and a sink that
// never lose a message. The wire is github.com/go-stomp/stomp/v3: its Conn
// for consuming, its frame codec for the pipelined producer.
//
// # Source (StompSource)
//
// Each task holds one connection per destination it consumes. Queues are
// consumed by every task (competing consumers); each topic by one task.
// stomp.subscription.name makes topic subscriptions durable (ActiveMQ's
// activemq.subscriptionName with client-id). Messages are subscribed with
// ack:client-individual (or client) and activemq.prefetchSize; a message is
// acknowledged from SourceTask.CommitRecord, i.e. only after its record is
// acknowledged by the log. A poison message (stomp.value.type=string and a
// body that is not UTF-8) fails the task, or with errors.tolerance=all is
// NACKed, which ActiveMQ answers by moving it to its dead letter queue.
//
// A message becomes a record: value = the body's bytes (optional BYTES
// schema) or text (optional STRING), key = message-id or the key.header
// header, every header but ack, subscription and content-length as a Kafka
// header stomp.<name> (first occurrence, after STOMP escaping is undone),
// timestamp = ActiveMQ's timestamp header. The source partition is
// {"destination": d} and the offset {"message-id": id}, for information:
// the broker, not the offset, is where a restarted task resumes.
//
// A lost connection is re-established with exponential backoff, moving
// along the stomp.url failover list; while a destination is not subscribed
// and nothing is waiting, Poll returns a retriable error naming the cause. Messages received but not yet in the
// log are redelivered by the broker; a redelivery of a message whose record
// is already in the log (or on its way) is acknowledged, not written again,
// while its message-id is within the last stomp.dedup.window ones. After a
// worker crash the window is gone: the unacknowledged messages are written
// again (at-least-once).
//
// # Sink (StompSink)
//
// One connection per task. Each record is a SEND to stomp.destination
// (${topic} replaced) with persistent:true and a receipt; receipts are
// pipelined (stomp.max.in.flight outstanding, batch.size frames per socket
// write) and PreCommit returns, per partition, the offset of the oldest
// record without RECEIPT, so the runtime commits only what the broker has
// confirmed. On a broken connection every unconfirmed frame is sent again;
// when no broker answers, Put returns a retriable error (the runtime
// redelivers the batch; records already taken are not taken twice).
// Kafka headers stomp.<name> go out as <name> (a topic filled by
// StompSource round-trips), others as they are, except the reserved names
// destination, message-id, content-length, subscription, ack, receipt,
// transaction, persistent, redelivered; the key goes as kafka.key. An ERROR
// naming one SEND's receipt rejects that record: it goes to the dead letter
// queue (errors.deadletterqueue.topic.name) or fails the task.
//
// Not supported: STOMP transactions (BEGIN/COMMIT/ABORT); ActiveMQ's
// SUBSCRIBE extensions other than activemq.prefetchSize and
// activemq.subscriptionName (exclusive, retroactive, priority, noLocal,
// dispatchAsync, maximumPendingMessageLimit); the transformation header
// (Map and Object messages arrive in ActiveMQ's default body encoding);
// composite destinations in one SUBSCRIBE; temporary destinations and
// reply-to handling (reply-to is just a header); TLS client certificates.
// Wildcard topics subscribe, and ${destination} is the message's actual
// destination, but each wildcard is one task like any topic.
package stomp
