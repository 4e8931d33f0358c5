// Package jdbc holds weir's PostgreSQL source and sink connectors, drop-in
// replacements for Confluent's io.confluent.connect.jdbc.JdbcSourceConnector
// and io.confluent.connect.jdbc.JdbcSinkConnector, built on
// github.com/jackc/pgx/v5. Confluent's configuration keys, source
// partitions and offsets are kept, so existing JSON configs and offsets
// (KIP-875 PATCH) move over. Importing the package registers both (aliases
// JdbcSource, JdbcSink, jdbc-source, jdbc-sink, postgres-source,
// postgres-sink).
//
// # Connection
//
// connection.url takes the JDBC form jdbc:postgresql://host:port/db?… (the
// pgjdbc parameters user, password, ssl, sslmode, sslcert, sslkey,
// sslrootcert, currentSchema, ApplicationName, connectTimeout, options and
// targetServerType are translated; others are ignored) or a libpq URL
// postgres://…. connection.user/connection.password override the URL's.
// connection.attempts and connection.backoff.ms bound the attempts to
// connect. The session TimeZone is db.timezone.
//
// # Source
//
// The connector lists the relations of table.types (TABLE by default)
// matching schema.pattern (a LIKE pattern; all schemas when unset) and the
// include/exclude lists (table, schema.table or db.schema.table), spreads
// them round robin over tasks.max tasks, and lists them again every
// table.poll.interval.ms: a table created or dropped while running makes it
// ask the runtime for new task configurations. A task that meets a dropped
// table skips it (it will be gone from its configuration shortly). In
// query mode one task runs the query.
//
// A task scans one table at a time. A scan is one read-only transaction at
// REPEATABLE READ (transaction.isolation.mode can lower it, except for
// mode=xmin): one snapshot for the whole scan, however many polls it
// spans. Rows stream from the server (pgx reads the socket as the task
// asks for rows), batch.max.rows per Poll, so memory stays bounded on a
// table of any size. When a scan is exhausted the table is due again
// poll.interval.ms after the scan began.
//
// Records: topic topic.prefix + table name (query mode: topic.prefix);
// value a Struct named after the table with one field per column; key a
// Struct of the primary-key columns (one field per column, also for one
// column), null for a table without a primary key, in query mode, or with
// key.from.primary.key=false (Confluent's null keys; a ValueToKey chain
// works as before). Source partition
// {"protocol":"1","table":"<db>.<schema>.<table>"} ({"query":"query"} in
// query mode); an offset stored under Confluent's older {"table":"<table>"}
// partition is read when the new one has none.
//
// # Modes and when they can skip a row
//
//   - bulk: the whole table every poll; no offset.
//   - incrementing: rows with incrementing.column.name (default: the
//     serial/identity column or single integer primary key) above the
//     offset {"incrementing":N}, in its order. Inserts only. It SKIPS a row
//     whose transaction took a lower id but commits after a row with a
//     higher id was read (any two concurrent writers can do that), and NULLs.
//   - timestamp: rows whose COALESCE(timestamp.column.name…) is above the
//     offset {"timestamp":ms,"timestamp_nanos":ns} and below the database
//     time minus timestamp.delay.interval.ms. It SKIPS a row whose
//     timestamp is older than the offset when it commits: a transaction
//     that runs longer than timestamp.delay.interval.ms (now() is the
//     transaction's start) or a clock-set timestamp. The offset passes a
//     timestamp only with the last row carrying it, so a restart never
//     skips rows that share a timestamp (Confluent's CCDB-4141).
//   - timestamp+incrementing: ordered by (timestamp, id); offset both. Skips
//     like timestamp mode.
//   - xmin (weir's own): rows in the order of the transaction that last
//     wrote them, using PostgreSQL's xmin system column made 64-bit with
//     the epoch of the snapshot, and only rows written by transactions below
//     the snapshot's xmin (pg_snapshot_xmin(pg_current_snapshot())): every
//     such transaction has finished, so none can commit later below the
//     offset {"xmin":N} ("every transaction below N was delivered"). It
//     NEVER skips a row, needs no key or column settings (it ignores
//     incrementing.column.name and timestamp.column.name), works on tables
//     without a primary key, and sees inserts and updates (an updated row
//     arrives again in its new state). It does not see deletes: that is
//     CDC's job. Costs: each scan reads the table (no index on xmin) and
//     sorts the rows it returns (its transaction raises work_mem to 256MB
//     so a first full scan sorts in memory), and one long-running
//     transaction anywhere in the database
//     holds the bound back (rows arrive once it ends). Tables only (views
//     have no xmin). The offset names a transaction, so a scan interrupted
//     inside one transaction's rows delivers those rows again on resume
//     (at least once); a row frozen more than 2^32 transactions ago may be
//     read once more, never lost.
//
// # Types (source)
//
//	PostgreSQL                               Connect
//	boolean                                  BOOLEAN
//	smallint, integer, bigint                INT16, INT32, INT64
//	oid, xid, cid                            INT64
//	real, double precision                   FLOAT32, FLOAT64
//	numeric(p,s)                             Decimal(scale s); numeric.mapping as Confluent:
//	                                         precision_only / best_fit / best_fit_eager_double → INT8…INT64 or FLOAT64
//	numeric (unconstrained)                  STRING, exact (Decimal needs a fixed scale); FLOAT64 with best_fit*
//	money                                    FLOAT64 (pgjdbc reports DOUBLE)
//	text, varchar, char, name, citext…       STRING
//	json, jsonb, xml                         STRING (as stored)
//	uuid                                     STRING
//	bytea                                    BYTES
//	date                                     Date
//	time, timetz (as UTC)                    Time
//	timestamp (in db.timezone), timestamptz  Timestamp (ms); timestamp.granularity nanos_long INT64,
//	                                         nanos_string / nanos_iso_datetime_string STRING
//	interval                                 STRING, ISO 8601 (P1Y2M3DT4H5M6.5S)
//	enum, inet, cidr, macaddr, bit, ranges,  STRING (PostgreSQL's text form)
//	geometric, composite, other types
//	T[] (one dimension)                      ARRAY of optional T (element types above; others as STRING)
//	domains                                  as their base type
//
// Columns are NOT NULL ⇒ required fields, else optional. ±infinity dates
// and timestamps map to the extreme instants; NaN/±Infinity numerics fail
// as Decimal (use best_fit). In query mode nullability is unknown, so all
// fields are optional, and the types above without a row of their own
// (enum, inet, money, ranges…) arrive as STRING in PostgreSQL's text form.
//
// Values are decoded by pgx's codecs (pgtype scan plans made once per scan
// into the Go type each column needs), then mapped as above. What a row
// is made of comes from chunks shared by many rows, never reused: the
// field values (plugins.NewStructWith), the Structs (plugins.StructSlab),
// the bytes of text values (one string each, no allocation of its own)
// and the big.Rat of a Decimal with its words. A record kept holds its
// chunks in memory; a batch's rows are about 450 bytes each. In
// table mode a Decimal column of at most 18 digits, numeric(p,s) with
// p <= 18 and s >= 0, is selected as its unscaled integer
// ((col * 10^s)::int8, exact for such a column) and read by pgx's int8
// codec: pgx's numeric codec builds a big.Int per value, the largest
// part of decoding such a row. A NaN in such a column fails the scan as
// it would as a numeric (a Decimal cannot hold it).
//
// # Sink
//
// Each Put is one transaction. Records go to table.name.format (${topic}
// replaced; schema.table names a schema). Columns: the primary key of
// pk.mode (none; kafka: __connect_topic, __connect_partition,
// __connect_offset or the three pk.fields; record_key: the key Struct's
// fields, or pk.fields, or the one pk.fields column of a primitive key;
// record_value: pk.fields of the value, all its fields when empty), then
// the value's fields (fields.whitelist limits them). Values are Structs or
// schemaless maps (JSON without schemas; nested maps and arrays become
// jsonb). insert.mode insert writes INSERT, upsert INSERT … ON CONFLICT
// (pk) DO UPDATE, update UPDATE … by the key. delete.enabled (pk.mode
// record_key) turns tombstones into DELETE; a tombstone for an absent key
// is a no-op; tombstones are ignored otherwise.
//
// Within a Put, upsert/update and deletes keep only the last record per
// key (the batch's final state: delete then re-insert ends inserted), then
// write each group of one shape with one statement per batch.size rows
// over unnest()ed column arrays; tables with array columns are written a
// statement per row in one pipelined pgx batch. insert mode keeps every
// record, in order, and writes with binary COPY FROM STDIN when every
// column has a type pgx encodes natively (the statement path otherwise).
//
// auto.create creates a missing table (primary key from pk.mode) and
// auto.evolve adds columns for new fields (which must be optional or have
// a default); types:
//
//	INT8, INT16 → smallint; INT32 → integer; INT64 → bigint; FLOAT32 → real;
//	FLOAT64 → double precision; BOOLEAN → boolean; STRING → text;
//	BYTES → bytea; Decimal → numeric(p,s) (its scale; p from
//	connect.decimal.precision, else 1000); Date → date; Time → time;
//	Timestamp → timestamp (written in db.timezone); ARRAY of a primitive →
//	that type[]; MAP, STRUCT, other arrays → jsonb. Schemaless values by Go
//	type (string text, int64 bigint, float64 double precision, bool
//	boolean, maps/arrays jsonb).
//
// quote.sql.identifiers=never leaves names unquoted (PostgreSQL folds them
// to lower case). Transient failures (connection, serialization, deadlock,
// shutdown) are retried max.retries times retry.backoff.ms apart; a write
// the database refuses for its data (SQLSTATE classes 22, 23, 42) is
// written record by record, and the records refused go to the dead letter
// queue when errors.tolerance allows it, else the task fails with the
// database's message (Confluent retries those too; retrying cannot help).
//
// exactly.once=true (any insert.mode) writes the consumed offsets
// (connector, topic, partition → next offset) into
// exactly.once.offsets.table in the same transaction as the rows, and on
// start reads them: records below a partition's stored offset are skipped,
// so a crash between the database commit and the consumer-group commit
// neither loses nor duplicates a row. No SDK change was needed: the
// records the group redelivers are filtered instead of seeking. A task
// that stops cleanly (nothing written since its final PreCommit) marks its
// partitions' rows clean, so offsets moved while the connector is stopped
// (KIP-875 PATCH or DELETE) win on the next start; if that final group
// commit failed (Kafka unreachable at shutdown), the records since the
// previous commit are written again.
//
// # Not supported yet
//
// Other databases than PostgreSQL; CDC (logical replication) and deletes
// in the source; multi-dimensional arrays; Confluent's
// numeric.precision.mapping (deprecated) and the table.monitoring.startup
// and query.retry.attempts keys; the sink's db-specific
// insert.mode=MERGE and table.types=VIEW; exactly.once across tables in
// different databases.
package jdbc
