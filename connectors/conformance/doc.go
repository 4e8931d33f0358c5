// Package conformance is the acceptance kit every weir connector must
// pass: the promises users most often find broken in Kafka Connect
// connectors (lost or duplicated records after a crash, tasks that die
// instead of retrying, poison pills, offsets that cannot be moved, tasks
// that do not move off a dead worker, configs that fail late), written
// once and run against every connector the same way.
//
// A connector's test gives the kit a Harness for its external system and
// calls Run. The kit starts real `weir serve` processes (the binary is
// built once per test binary, or taken from $WEIR_BIN), so kill -9 really
// kills, and drives the real external system through the harness. Each
// scenario is a subtest with the same name in every connector's report:
//
//	RoundTrip     N records (several batches and offset commits) arrive
//	              intact: the keys, values, headers, timestamps and
//	              schemas the system carries (Harness.Carries).
//	Crash         kill -9 of the worker at random moments, Options.Crashes
//	              times; after each restart the declared Guarantee holds:
//	              nothing lost, and no duplicates (ExactlyOnce) or at most
//	              the in-flight window (AtLeastOnce). Counts are logged.
//	ExternalDown  Harness.Down for Options.Outage mid-stream: the task keeps
//	              RUNNING, GET /connectors/{c}/status shows the cause in its
//	              trace while it retries, the trace clears after Up, and
//	              nothing is lost.
//	PoisonRecord  one record the pipeline cannot handle between good ones:
//	              with errors.tolerance=all it goes to the dead letter
//	              topic with __connect.errors.* context headers and the
//	              rest flows; with none the task FAILs with a trace naming
//	              the stage and nothing after the poison is delivered.
//	Lifecycle     pause (nothing flows) / resume, stop; offsets GET, then
//	              PATCH (KIP-875) back to an earlier point and DELETE: the
//	              connector re-reads from where it was told (for an
//	              Idempotent sink, whose system cannot show a replay: the
//	              committed offsets come back to the end and the system
//	              is unchanged).
//	Rebalance     three distributed workers on one Kafka cluster; the
//	              worker running the task is killed with SIGKILL, the task
//	              moves, the stream completes with the Guarantee.
//	Config        every required key missing, and one bad value per key
//	              type, each answered by PUT
//	              /connector-plugins/{p}/config/validate with an error on
//	              that key.
//
// No scenario may be skipped: the harness says what each means for its
// system (for FileStream, Down renames the source file or the sink's
// directory away and Up renames it back). Throughput measures the same
// harness for make bench (records/s, MB/s); it is not a test.
//
// # Writing a harness
//
// A source harness writes numbered records into its system and recognises
// them in the topic; a sink harness recognises them in its system:
//
//	type lines struct{}
//
//	func (lines) Class() string                    { return "org.apache.kafka.connect.file.FileStreamSourceConnector" }
//	func (lines) Guarantee() conformance.Guarantee { return conformance.AtLeastOnce }
//	func (lines) Carries() conformance.Fields      { return conformance.Values | conformance.Schemas }
//	func (lines) Config(s *conformance.Stream) map[string]string {
//		return map[string]string{"file": filepath.Join(s.Dir, "in.txt"), "topic": s.Topic}
//	}
//	func (lines) Record(i int) plugins.Record {
//		return plugins.Record{Value: strconv.Itoa(1e8 + i), ValueSchema: plugins.StringSchema}
//	}
//	func (lines) ID(r plugins.Record) (int, bool) { … parse r.Value … }
//	func (lines) Write(ctx context.Context, s *conformance.Stream, from, to int) error { … append lines … }
//	func (lines) Poison(ctx context.Context, s *conformance.Stream) error { … append "not a number" … }
//	func (lines) PoisonConfig() map[string]string { … a Cast$Value to int64 … }
//	func (lines) Down(ctx context.Context, s *conformance.Stream) error { … rename the file away … }
//	func (lines) Up(ctx context.Context, s *conformance.Stream) error   { … rename it back … }
//
//	func TestMain(m *testing.M) { os.Exit(conformance.Main(m)) } // optional: removes the built binary
//
//	func TestFileStreamSourceKit(t *testing.T) {
//		conformance.Run(t, lines{}, conformance.Options{Outage: 3 * time.Second})
//	}
//
// connectors/file/kit_services_test.go is the complete, running example
// for a source and a sink. Tests that run the kit against a real system
// carry the build tag "services" (make test-connectors).
//
// # Delivery accounting
//
// The kit counts every record by Harness.ID where it arrives (the topic
// for a source, Harness.Read for a sink). Lost means a number never
// arrived; a duplicate is every arrival after the first. The in-flight
// bound of one crash is the number of records first delivered from one
// offset-flush interval (Options.OffsetFlushInterval, passed to weir as
// --connect-offset-flush-interval) plus two seconds before the kill on:
// only records whose offsets were not yet committed may come again.
//
// # Processes
//
// Each scenario runs in its own temporary directory, which is the working
// directory of its weir processes, so relative paths such as FileStream's
// default allowed directory (./connect-files) resolve there; Stream.Dir
// lies under it. Ports are picked free on 127.0.0.1. A failed scenario
// logs the tail of every weir log.
package conformance
