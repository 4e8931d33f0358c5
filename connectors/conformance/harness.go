package conformance

import (
	"context"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Guarantee is the delivery promise a connector declares and the kit holds
// it to after crashes and rebalances.
type Guarantee int

const (
	// AtLeastOnce: nothing is lost; duplicates are allowed, bounded by
	// the in-flight window (what was delivered since the last offset
	// commit before a crash).
	AtLeastOnce Guarantee = iota
	// ExactlyOnce: nothing is lost and nothing is duplicated.
	ExactlyOnce
)

func (g Guarantee) String() string {
	if g == ExactlyOnce {
		return "exactly-once"
	}
	return "at-least-once"
}

// Fields says which parts of a record the external system keeps, so the
// kit compares only those (a file keeps a line, a table keeps key and value
// with their schemas, a queue may keep headers).
type Fields uint8

const (
	Keys Fields = 1 << iota
	Values
	Headers
	Timestamps
	// Schemas compares the key and value schemas of the parts compared.
	Schemas
)

// Stream is one connector instance the kit runs: its name, the topic its
// records flow through, and a scratch directory for the external side.
type Stream struct {
	// Name is the connector's name; unique per scenario.
	Name string
	// Topic is the Kafka topic the records pass through. A source
	// harness whose connector derives topic names itself (a prefix plus a
	// table name) may change it in Config.
	Topic string
	// Dir is a directory for files of the external system (FileStream's
	// files, a staging area). It lies under the worker's
	// connect-files directory, so FileStream's allowed-dirs check passes.
	Dir string
}

// Harness is what a connector's test gives the kit about its external
// system. Its methods are called from the test goroutine, one at a time,
// except SinkHarness.Read, which the kit calls every 200ms from a goroutine
// of its own while a scenario runs, concurrently with the others (Down and
// Up included: Read may fail while the system is down). Record and ID must
// be safe for concurrent use.
type Harness interface {
	// Class is the connector class, as in "connector.class".
	Class() string
	// Guarantee is the delivery guarantee the connector declares.
	Guarantee() Guarantee
	// Carries says which record parts survive the external system.
	Carries() Fields

	// Config returns the connector's own keys for s: the external
	// system's address and the resource (table, queue, file) of this
	// stream. The kit adds name, connector.class, tasks.max (1),
	// "topics" for sinks, the JSON converters and errors.* keys for any
	// of those not given.
	Config(s *Stream) map[string]string

	// Record returns record number i as it appears in Kafka: for a
	// source, what the kit expects to read from the topic after the
	// converters; for a sink, what the kit produces. It must be a pure
	// function of i, and every record distinct.
	Record(i int) plugins.Record
	// ID returns the number of a record read back (from the topic for a
	// source, from the external system for a sink), false when r is not
	// one of the kit's records.
	ID(r plugins.Record) (int, bool)

	// Down takes the external system away for s (stop the server, remove
	// the directory); Up gives it back with its data. The kit calls them
	// in pairs.
	Down(ctx context.Context, s *Stream) error
	Up(ctx context.Context, s *Stream) error
}

// SourceHarness is the harness of a source connector.
type SourceHarness interface {
	Harness
	// Write puts records [from, to) into the external system, in order.
	Write(ctx context.Context, s *Stream, from, to int) error
	// Poison puts one record into the external system that the connector
	// or the runtime cannot turn into a Kafka record under the config
	// PoisonConfig adds. Records written before and after it must still
	// flow (and ID must still recognise them).
	Poison(ctx context.Context, s *Stream) error
	// PoisonConfig returns connector keys the PoisonRecord scenario adds
	// (nil when the poison is poison under any config).
	PoisonConfig() map[string]string
}

// SinkHarness is the harness of a sink connector.
type SinkHarness interface {
	Harness
	// Read returns every record the sink has written for s so far, in
	// the external system's order, as Connect records (parts the system
	// does not carry left empty).
	Read(ctx context.Context, s *Stream) ([]plugins.Record, error)
}

// Landed is implemented by a sink harness that can tell cheaply how many
// of the kit's records the external system holds without reading them
// (a storage sink's files: their count and flush.size). Throughput then
// polls Landed while its clock runs, and reads and checks every record
// (Read) only once the clock stopped: reading the data back is the
// harness's work, not the sink's, and on the same cores it was counted
// against the sink.
type Landed interface {
	SinkHarness
	Landed(ctx context.Context, s *Stream) (int, error)
}

// Idempotent marks a sink harness whose system keeps one copy of a record
// however often the sink writes it (document ids and versions from the
// record, upserts by key): a replay cannot be seen there. Lifecycle then
// checks a re-read after moving the offsets back by the committed offsets
// coming back to the end, and that the system did not change.
type Idempotent interface {
	SinkHarness
	Idempotent()
}

// SinkPoisoner lets a sink harness choose its poison record: the raw key
// and value the kit produces to the topic. Without it the kit produces a
// value the configured value converter cannot decode.
type SinkPoisoner interface {
	PoisonRecord() (key, value []byte)
}

// Unreplayable is implemented by a source harness whose system forgets
// what the connector acknowledged (a message queue): moving the offsets
// back cannot make it re-read. Lifecycle then checks that PATCH and DELETE
// of the offsets are accepted and that the connector carries on from the
// system's own position, nothing lost and nothing read twice. The reason
// is logged.
type Unreplayable interface {
	Unreplayable() string
}

// BadValuer lets a harness add connector-specific bad values to the
// Config scenario: key → a value PUT …/config/validate must reject, with
// an error naming the key.
type BadValuer interface {
	BadValues() map[string]string
}

// Options tune a kit run. Zero values take the defaults in brackets.
type Options struct {
	// Records is how many records RoundTrip, Crash and Rebalance carry
	// [5000]: enough for several batches and offset commits.
	Records int
	// Outage is how long ExternalDown keeps the system away [3s].
	Outage time.Duration
	// Crashes is how many times Crash kills the worker [3].
	Crashes int
	// Timeout bounds each wait for records to arrive [60s].
	Timeout time.Duration
	// OffsetFlushInterval is the workers' offset.flush.interval.ms
	// [1s]; the in-flight window of AtLeastOnce derives from it.
	OffsetFlushInterval time.Duration
	// Partitions of a sink's topic [1].
	Partitions int
	// Preload (Throughput of a sink only) produces all the records
	// before the connector is created, and the clock starts when its
	// config is PUT: the sink drains a backlog, nothing else runs on the
	// machine meanwhile, and connector start and the group join are
	// inside the measured time. Without it the clock starts once the
	// connector is RUNNING and the kit produces while the sink consumes.
	Preload bool
	// WeirArgs are extra flags for every `weir serve` the kit starts.
	WeirArgs []string
	// Only runs just these scenarios while a connector is being
	// developed; the others show as skipped subtests, so a report never
	// passes them silently. A finished connector leaves it empty (go test
	// -run 'Kit/Crash' focuses a run just as well).
	Only []string
}

func (o Options) withDefaults() Options {
	if o.Records <= 0 {
		o.Records = 5000
	}
	if o.Outage <= 0 {
		o.Outage = 3 * time.Second
	}
	if o.Crashes <= 0 {
		o.Crashes = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.OffsetFlushInterval <= 0 {
		o.OffsetFlushInterval = time.Second
	}
	if o.Partitions <= 0 {
		o.Partitions = 1
	}
	return o
}
