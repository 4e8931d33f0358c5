package plugins

// This file is the connector SDK's contract. Every connector (connectors/*)
// and the runtime (runtime/) build on it; keep it small and stable.
// Threading rules are written on each method: the runtime honours them so
// that connector authors never need locks for the common case.

import (
	"context"
	"time"
)

// Header is one record header. Value is the converted value (nil, []byte,
// string, bool, numbers, map[string]any, []any) and Schema, when known,
// describes it.
type Header struct {
	Key    string
	Value  any
	Schema *Schema
}

// Record is the unit a connector produces or consumes, after conversion
// (Kafka Connect's ConnectRecord). Key and Value hold Connect data: nil,
// bool, int8..int64, float32/64, string, []byte, []any, map[string]any,
// *Struct, time.Time for logical Date/Time/Timestamp, *big.Rat for Decimal.
type Record struct {
	Topic       string
	Partition   int32 // -1: let the producer's partitioner choose
	Offset      int64 // sink side: the record's offset in Topic/Partition
	Key         any
	KeySchema   *Schema // nil when schemaless
	Value       any
	ValueSchema *Schema // nil when schemaless
	Headers     []Header
	Timestamp   time.Time // zero: let the broker/producer set it

	// Source side only: where in the external system this record came from.
	// The runtime stores SourceOffset under SourcePartition in the offsets
	// topic once the record is acknowledged by the log.
	SourcePartition map[string]any
	SourceOffset    map[string]any
}

// Config is a connector's or task's raw string configuration, as in Kafka
// Connect (every value a string).
type Config map[string]string

// Context gives a connector access to the runtime.
type ConnectorContext interface {
	// RequestTaskReconfiguration asks the runtime to call TaskConfigs again
	// (e.g. a source discovered new tables). Safe from any goroutine.
	RequestTaskReconfiguration()
	// RaiseError fails the connector with err. Safe from any goroutine.
	RaiseError(err error)
}

// Connector is the part common to source and sink connectors. The runtime
// calls its methods from one goroutine at a time.
type Connector interface {
	// ConfigDef describes and validates the connector's configuration; the
	// REST API's /connector-plugins/{p}/config and validate are built from it.
	ConfigDef() *ConfigDef
	// Start is called once with the validated configuration.
	Start(ctx ConnectorContext, cfg Config) error
	// TaskConfigs returns at most maxTasks task configurations.
	TaskConfigs(maxTasks int) ([]Config, error)
	// Stop releases what Start acquired.
	Stop() error
	// Version is the plugin's version string.
	Version() string
}

// SourceConnector is a Connector whose tasks are SourceTasks.
type SourceConnector interface {
	Connector
	NewTask() SourceTask
}

// SinkConnector is a Connector whose tasks are SinkTasks.
type SinkConnector interface {
	Connector
	NewTask() SinkTask
}

// OffsetReader reads the source offsets the runtime has committed for this
// connector, so a restarted task resumes where it left off.
type OffsetReader interface {
	Offset(partition map[string]any) (map[string]any, error)
}

// SourceTaskContext is handed to SourceTask.Start.
type SourceTaskContext interface {
	Offsets() OffsetReader
}

// SourceTask pulls records from an external system. The runtime calls Start,
// then Poll repeatedly from the task's own goroutine, and Stop from another
// goroutine (Stop must make a blocked Poll return promptly; ctx is also
// cancelled). Commit/CommitRecord are called from the runtime's producer
// goroutine after the records are durable in the log.
//
// Life cycle: Stop is called at most once, only after Start was called and
// returned (also when Start returned an error), and never concurrently with
// Start: a stop requested while Start runs is carried out by the task's
// goroutine once Start returns, and Poll is then not called. Stop may run
// concurrently with Poll, Commit and CommitRecord, so what Stop touches
// must be safe for that; what Start set up, Stop may read without locks.
type SourceTask interface {
	Start(tctx SourceTaskContext, cfg Config) error
	// Poll returns the next records, or nil after a short wait when there
	// are none. A retriable error (see Retriable) is retried with backoff;
	// any other error fails the task.
	Poll(ctx context.Context) ([]Record, error)
	// CommitRecord tells the task that rec was acknowledged by the log
	// (e.g. to ack a JMS/STOMP message). Implementations may do nothing.
	CommitRecord(rec *Record) error
	// Commit is called after the runtime committed source offsets.
	Commit() error
	Stop() error
}

// SinkTaskContext is handed to SinkTask.Start.
type SinkTaskContext interface {
	// Assignment is the set of topic partitions the task currently owns.
	Assignment() []TopicPartition
	// Pause/Resume stop and restart fetching from partitions (backpressure).
	Pause(tps ...TopicPartition)
	Resume(tps ...TopicPartition)
	// RequestCommit asks the runtime to flush and commit offsets soon.
	RequestCommit()
	// ErrantRecordReporter sends a record that failed to the dead letter
	// queue per errors.tolerance; nil when no DLQ is configured.
	ErrantRecordReporter() func(rec *Record, err error)
	// Offset resets the consumer position of assigned partitions, as
	// Kafka Connect's SinkTaskContext.offset: a task that recovers its
	// position from the external system (a storage sink reading its
	// files), or that lost data it had taken (a file that failed), moves
	// the partition to where its records must come again from. The
	// runtime records the reset and applies it after the current call
	// (Put, Open, PreCommit) returns, before the next records are
	// delivered; records of those partitions fetched but not delivered
	// yet are discarded, and a partition not assigned to the task is
	// ignored (logged). The offset reaches the consumer group only
	// through the normal commit path: the runtime's current offset of
	// the partition becomes the reset one, and PreCommit decides.
	Offset(offsets map[TopicPartition]int64)
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// SinkTask writes records to an external system. All methods, Stop
// included, are called from the task's own goroutine (the runtime only
// cancels Put's and PreCommit's ctx from elsewhere); Stop is called at most
// once, after Start returned successfully.
type SinkTask interface {
	Start(tctx SinkTaskContext, cfg Config) error
	// Open is called when partitions are assigned (before any Put of them).
	Open(tps []TopicPartition) error
	// Put hands over records; it may buffer. A retriable error makes the
	// runtime redeliver the same batch after a backoff.
	Put(ctx context.Context, recs []Record) error
	// PreCommit flushes what Put buffered (as far as the task wants) and
	// returns, per partition, the next offset that is safe to commit
	// (everything before it is durable in the external system). Returning
	// currentOffsets unchanged means "all flushed".
	PreCommit(ctx context.Context, currentOffsets map[TopicPartition]int64) (map[TopicPartition]int64, error)
	// Close is called when partitions are revoked; buffered data of those
	// partitions should be flushed or dropped (it will be redelivered).
	Close(tps []TopicPartition) error
	Stop() error
}

// OffsetsCommitter is implemented by a SinkTask that wants to know which
// offsets reached the consumer group (a storage sink decides from it
// whether its last stop was clean). The runtime calls it from the task's
// goroutine right after a successful commit, with the committed offsets.
type OffsetsCommitter interface {
	OffsetsCommitted(offsets map[TopicPartition]int64)
}

// Transform is a single message transform (SMT). Apply returns nil to drop
// the record. Called from the task goroutine; must not retain rec.
type Transform interface {
	// ConfigDef may be called on an unconfigured instance, from any
	// goroutine (REST validation); it must not depend on Configure.
	ConfigDef() *ConfigDef
	// Configure is called once, before any Apply, with the keys under
	// transforms.<alias>. (prefix removed).
	Configure(cfg Config) error
	// Apply must not modify *rec or anything it points to (schemas,
	// structs, maps, header slices): it returns a new Record, or rec
	// itself when nothing changes.
	Apply(rec *Record) (*Record, error)
	// Close is called once when the task stops.
	Close() error
}

// Predicate decides whether a transform applies to a record. Same life
// cycle and goroutine as the transform it guards; Test must not modify rec.
type Predicate interface {
	ConfigDef() *ConfigDef
	Configure(cfg Config) error
	Test(rec *Record) bool
	Close() error
}

// Converter turns Connect data into bytes for the log and back.
// isKey tells which side it converts (key.converter vs value.converter).
// The runtime creates one converter per task and side and calls it from
// that task's goroutine only.
type Converter interface {
	// Configure is called once with the keys under key.converter. or
	// value.converter. (prefix removed).
	Configure(cfg Config, isKey bool) error
	// FromConnect serializes; a nil result is a null Kafka key/value.
	FromConnect(topic string, schema *Schema, value any) ([]byte, error)
	// ToConnect deserializes untrusted bytes: malformed input must give an
	// error, never a panic. The result may alias data.
	ToConnect(topic string, data []byte) (schema *Schema, value any, err error)
}

// Retriable marks an error as transient: the runtime retries the operation
// (within errors.retry.timeout) instead of failing the task.
type Retriable struct{ Err error }

func (r *Retriable) Error() string { return "retriable: " + r.Err.Error() }
func (r *Retriable) Unwrap() error { return r.Err }
