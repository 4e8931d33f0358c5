package jdbc

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Configuration keys, spelled as Confluent's JDBC connectors spell them.
const (
	ConnectionURL      = "connection.url"
	ConnectionUser     = "connection.user"
	ConnectionPassword = "connection.password"
	ConnectionAttempts = "connection.attempts"
	ConnectionBackoff  = "connection.backoff.ms"
	DBTimezone         = "db.timezone"

	// Source.
	Mode                  = "mode"
	Query                 = "query"
	QuerySuffix           = "query.suffix"
	IncrementingColumn    = "incrementing.column.name"
	TimestampColumn       = "timestamp.column.name"
	TimestampInitial      = "timestamp.initial"
	TimestampDelay        = "timestamp.delay.interval.ms"
	TimestampGranularity  = "timestamp.granularity"
	ValidateNonNull       = "validate.non.null"
	TableWhitelist        = "table.whitelist"
	TableIncludeList      = "table.include.list"
	TableBlacklist        = "table.blacklist"
	TableExcludeList      = "table.exclude.list"
	SchemaPattern         = "schema.pattern"
	TableTypes            = "table.types"
	TopicPrefix           = "topic.prefix"
	PollInterval          = "poll.interval.ms"
	BatchMaxRows          = "batch.max.rows"
	TablePollInterval     = "table.poll.interval.ms"
	NumericMapping        = "numeric.mapping"
	TransactionIsolation  = "transaction.isolation.mode"
	KeyFromPrimaryKey     = "key.from.primary.key"
	tablesConfig          = "tables" // set by TaskConfigs: JSON list of [schema, table]
	timestampInitialCurr  = -1       // timestamp.initial: start from the current time
	defaultBatchMaxRows   = 100
	defaultPollIntervalMs = 5000

	// Sink.
	InsertMode           = "insert.mode"
	PKMode               = "pk.mode"
	PKFields             = "pk.fields"
	FieldsWhitelist      = "fields.whitelist"
	AutoCreate           = "auto.create"
	AutoEvolve           = "auto.evolve"
	TableNameFormat      = "table.name.format"
	DeleteEnabled        = "delete.enabled"
	BatchSize            = "batch.size"
	MaxRetries           = "max.retries"
	RetryBackoff         = "retry.backoff.ms"
	QuoteIdentifiers     = "quote.sql.identifiers"
	ExactlyOnce          = "exactly.once"
	ExactlyOnceTable     = "exactly.once.offsets.table"
	connectorNameConfig  = "name"
	defaultOffsetsTable  = "__weir_sink_offsets"
	defaultSinkBatchSize = 3000
)

// Source modes. ModeXmin is weir's own; the others are Confluent's.
const (
	ModeBulk                  = "bulk"
	ModeIncrementing          = "incrementing"
	ModeTimestamp             = "timestamp"
	ModeTimestampIncrementing = "timestamp+incrementing"
	ModeXmin                  = "xmin"
)

var connectionKeys = []plugins.ConfigKey{
	{Name: ConnectionURL, Type: plugins.ConfigString, Default: plugins.NoDefault, Validator: plugins.NonEmptyString(), Importance: plugins.High,
		Group: "Database", OrderInGroup: 1, Width: plugins.WidthLong, DisplayName: "JDBC URL",
		Documentation: "PostgreSQL connection URL: JDBC form jdbc:postgresql://host:port/db?user=…&password=…, or a libpq/pgx URL postgres://user:pass@host:port/db?sslmode=…."},
	{Name: ConnectionUser, Type: plugins.ConfigString, Importance: plugins.High, Group: "Database", OrderInGroup: 2, DisplayName: "JDBC User",
		Documentation: "PostgreSQL user; overrides a user in the URL."},
	{Name: ConnectionPassword, Type: plugins.ConfigPassword, Importance: plugins.High, Group: "Database", OrderInGroup: 3, DisplayName: "JDBC Password",
		Documentation: "PostgreSQL password; overrides a password in the URL."},
	{Name: ConnectionAttempts, Type: plugins.ConfigInt, Default: 3, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Database", OrderInGroup: 4,
		Documentation: "Maximum number of attempts to open a connection."},
	{Name: ConnectionBackoff, Type: plugins.ConfigLong, Default: int64(10000), Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Database", OrderInGroup: 5,
		Documentation: "Milliseconds to wait between connection attempts."},
	{Name: DBTimezone, Type: plugins.ConfigString, Default: "UTC", Validator: timezoneValidator, Importance: plugins.Medium, Group: "Database", OrderInGroup: 6,
		Documentation: "Time zone (IANA name) of timestamp-without-time-zone columns, used both to read them and to compare them with offsets. Also the session TimeZone."},
}

var timezoneValidator = plugins.ValidatorFunc("IANA time zone", func(_ string, v any) error {
	s, _ := v.(string)
	if _, err := time.LoadLocation(s); err != nil {
		return fmt.Errorf("unknown time zone %q", s)
	}
	return nil
})

func defineAll(d *plugins.ConfigDef, keys []plugins.ConfigKey) *plugins.ConfigDef {
	for _, k := range keys {
		d.Define(k)
	}
	return d
}

var sourceConfigDef = defineAll(plugins.NewConfigDef(), connectionKeys).
	Define(plugins.ConfigKey{Name: Mode, Type: plugins.ConfigString, Default: ModeBulk,
		Validator:  plugins.OneOf(ModeBulk, ModeIncrementing, ModeTimestamp, ModeTimestampIncrementing, ModeXmin),
		Importance: plugins.High, Group: "Mode", OrderInGroup: 1,
		Documentation: "How each poll finds new rows: bulk (whole table every poll), incrementing (a strictly increasing column), timestamp (a modification timestamp), " +
			"timestamp+incrementing (both), xmin (PostgreSQL transaction ids: never skips a row that commits late; inserts and updates, not deletes)."}).
	Define(plugins.ConfigKey{Name: IncrementingColumn, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Mode", OrderInGroup: 2,
		Documentation: "The strictly increasing column of incrementing modes; empty: the table's serial/identity column or single integer primary key."}).
	Define(plugins.ConfigKey{Name: TimestampColumn, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Mode", OrderInGroup: 3,
		Documentation: "Timestamp column(s) of timestamp modes; several are combined with COALESCE, first non-null wins."}).
	Define(plugins.ConfigKey{Name: TimestampInitial, Type: plugins.ConfigLong, Importance: plugins.Low, Group: "Mode", OrderInGroup: 4,
		Documentation: "Epoch milliseconds to start timestamp modes from when no offset is stored; -1 for the current time; unset reads from the beginning."}).
	Define(plugins.ConfigKey{Name: TimestampDelay, Type: plugins.ConfigLong, Default: int64(0), Validator: plugins.AtLeast(0), Importance: plugins.High, Group: "Mode", OrderInGroup: 5,
		Documentation: "Timestamp modes read only rows older than the database's current time minus this many milliseconds, giving transactions with earlier timestamps time to commit."}).
	Define(plugins.ConfigKey{Name: TimestampGranularity, Type: plugins.ConfigString, Default: "connect_logical",
		Validator:  plugins.OneOf("connect_logical", "nanos_long", "nanos_string", "nanos_iso_datetime_string"),
		Importance: plugins.Low, Group: "Mode", OrderInGroup: 6,
		Documentation: "Representation of timestamp columns: connect_logical (Timestamp, milliseconds), nanos_long (INT64 nanoseconds), nanos_string, nanos_iso_datetime_string."}).
	Define(plugins.ConfigKey{Name: ValidateNonNull, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Low, Group: "Mode", OrderInGroup: 7,
		Documentation: "Refuse incrementing/timestamp columns that are nullable (NULLs are never read)."}).
	Define(plugins.ConfigKey{Name: Query, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Mode", OrderInGroup: 8, Width: plugins.WidthLong,
		Documentation: "A custom query instead of tables; the mode's conditions are applied to it as a subquery. Records go to topic.prefix."}).
	Define(plugins.ConfigKey{Name: QuerySuffix, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Mode", OrderInGroup: 9,
		Documentation: "Text appended to every generated query (e.g. a locking clause)."}).
	Define(plugins.ConfigKey{Name: TableWhitelist, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Tables", OrderInGroup: 1,
		Documentation: "Tables to copy (table, schema.table or db.schema.table); empty: every table the user can read."}).
	Define(plugins.ConfigKey{Name: TableIncludeList, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Tables", OrderInGroup: 2,
		Documentation: "Newer name of table.whitelist."}).
	Define(plugins.ConfigKey{Name: TableBlacklist, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Tables", OrderInGroup: 3,
		Documentation: "Tables not to copy."}).
	Define(plugins.ConfigKey{Name: TableExcludeList, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Tables", OrderInGroup: 4,
		Documentation: "Newer name of table.blacklist."}).
	Define(plugins.ConfigKey{Name: SchemaPattern, Type: plugins.ConfigString, Importance: plugins.Medium, Group: "Tables", OrderInGroup: 5,
		Documentation: "LIKE pattern of schemas to look for tables in; unset: every schema but pg_catalog and information_schema."}).
	Define(plugins.ConfigKey{Name: TableTypes, Type: plugins.ConfigList, Default: "TABLE", Validator: plugins.OneOfIgnoreCase("TABLE", "VIEW", "MATERIALIZED VIEW", "FOREIGN TABLE", "PARTITIONED TABLE"),
		Importance: plugins.Low, Group: "Tables", OrderInGroup: 6, Documentation: "Kinds of relation to copy."}).
	Define(plugins.ConfigKey{Name: TablePollInterval, Type: plugins.ConfigLong, Default: int64(60000), Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Tables", OrderInGroup: 7,
		Documentation: "Milliseconds between checks for new or dropped tables."}).
	Define(plugins.ConfigKey{Name: TopicPrefix, Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High, Group: "Connector", OrderInGroup: 1,
		Documentation: "Prefix of topic names: topic = prefix + table name (query mode: the prefix alone)."}).
	Define(plugins.ConfigKey{Name: PollInterval, Type: plugins.ConfigInt, Default: defaultPollIntervalMs, Validator: plugins.AtLeast(1), Importance: plugins.High, Group: "Connector", OrderInGroup: 2,
		Documentation: "Milliseconds between polls of one table."}).
	Define(plugins.ConfigKey{Name: BatchMaxRows, Type: plugins.ConfigInt, Default: defaultBatchMaxRows, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Connector", OrderInGroup: 3,
		Documentation: "Maximum rows returned by one task poll; rows stream from the server, so memory stays bounded on any table size."}).
	Define(plugins.ConfigKey{Name: NumericMapping, Type: plugins.ConfigString, Default: "none", Validator: plugins.OneOf("none", "precision_only", "best_fit", "best_fit_eager_double"),
		Importance: plugins.Low, Group: "Connector", OrderInGroup: 4, Documentation: "How NUMERIC columns map: none (Decimal), precision_only, best_fit, best_fit_eager_double (Confluent's rules)."}).
	Define(plugins.ConfigKey{Name: TransactionIsolation, Type: plugins.ConfigString, Default: "DEFAULT",
		Validator:  plugins.OneOf("DEFAULT", "READ_UNCOMMITTED", "READ_COMMITTED", "REPEATABLE_READ", "SERIALIZABLE", "SQL_SERVER_SNAPSHOT"),
		Importance: plugins.Low, Group: "Connector", OrderInGroup: 5,
		Documentation: "Isolation of each poll's read transaction. DEFAULT is REPEATABLE READ (one snapshot per table scan); mode=xmin always uses at least REPEATABLE READ."}).
	Define(plugins.ConfigKey{Name: KeyFromPrimaryKey, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Medium, Group: "Connector", OrderInGroup: 6,
		Documentation: "Record keys are a Struct of the table's primary-key columns (null without a primary key); false gives Confluent's null keys."}).
	Define(plugins.ConfigKey{Name: tablesConfig, Type: plugins.ConfigString, Default: "", Internal: true, Importance: plugins.Low,
		Documentation: "Set by the connector for each task: the tables it reads."})

var sinkConfigDef = defineAll(plugins.NewConfigDef(), connectionKeys).
	Define(plugins.ConfigKey{Name: InsertMode, Type: plugins.ConfigString, Default: "insert", Validator: plugins.OneOfIgnoreCase("insert", "upsert", "update"),
		Importance: plugins.High, Group: "Writes", OrderInGroup: 1, Documentation: "insert (plain INSERT), upsert (INSERT … ON CONFLICT DO UPDATE) or update (UPDATE by primary key)."}).
	Define(plugins.ConfigKey{Name: BatchSize, Type: plugins.ConfigInt, Default: defaultSinkBatchSize, Validator: plugins.AtLeast(1), Importance: plugins.Medium, Group: "Writes", OrderInGroup: 2,
		Documentation: "Maximum rows written by one statement."}).
	Define(plugins.ConfigKey{Name: DeleteEnabled, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Medium, Group: "Writes", OrderInGroup: 3,
		Documentation: "Tombstones (null values) delete the row with the record's key; needs pk.mode=record_key."}).
	Define(plugins.ConfigKey{Name: TableNameFormat, Type: plugins.ConfigString, Default: "${topic}", Importance: plugins.Medium, Group: "Data Mapping", OrderInGroup: 1,
		Documentation: "Destination table; ${topic} is replaced by the record's topic. schema.table names a schema."}).
	Define(plugins.ConfigKey{Name: PKMode, Type: plugins.ConfigString, Default: "none", Validator: plugins.OneOfIgnoreCase("none", "kafka", "record_key", "record_value"),
		Importance: plugins.High, Group: "Data Mapping", OrderInGroup: 2, Documentation: "Where primary-key columns come from: none, kafka (topic, partition, offset), record_key, record_value."}).
	Define(plugins.ConfigKey{Name: PKFields, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Data Mapping", OrderInGroup: 3,
		Documentation: "Primary-key columns: for kafka the three column names; for record_key the key's fields (or the one column of a primitive key); for record_value the value's fields (empty: all)."}).
	Define(plugins.ConfigKey{Name: FieldsWhitelist, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium, Group: "Data Mapping", OrderInGroup: 4,
		Documentation: "Value fields to write; empty: all."}).
	Define(plugins.ConfigKey{Name: AutoCreate, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Medium, Group: "DDL Support", OrderInGroup: 1,
		Documentation: "CREATE TABLE a missing destination table from the record schema."}).
	Define(plugins.ConfigKey{Name: AutoEvolve, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Medium, Group: "DDL Support", OrderInGroup: 2,
		Documentation: "ALTER TABLE … ADD COLUMN for record fields the table lacks (they must be optional or have a default)."}).
	Define(plugins.ConfigKey{Name: QuoteIdentifiers, Type: plugins.ConfigString, Default: "always", Validator: plugins.OneOfIgnoreCase("always", "never"),
		Importance: plugins.Medium, Group: "DDL Support", OrderInGroup: 3, Documentation: "Quote table and column names (always) or not (never: PostgreSQL folds them to lower case)."}).
	Define(plugins.ConfigKey{Name: MaxRetries, Type: plugins.ConfigInt, Default: 10, Validator: plugins.AtLeast(0), Importance: plugins.Medium, Group: "Retries", OrderInGroup: 1,
		Documentation: "Times a failed write is retried before the task fails."}).
	Define(plugins.ConfigKey{Name: RetryBackoff, Type: plugins.ConfigInt, Default: 3000, Validator: plugins.AtLeast(0), Importance: plugins.Medium, Group: "Retries", OrderInGroup: 2,
		Documentation: "Milliseconds to wait before a retry."}).
	Define(plugins.ConfigKey{Name: ExactlyOnce, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Medium, Group: "Writes", OrderInGroup: 4,
		Documentation: "Write the consumed Kafka offsets into exactly.once.offsets.table in the same transaction as the rows and resume from them, so a crash neither loses nor duplicates a row."}).
	Define(plugins.ConfigKey{Name: ExactlyOnceTable, Type: plugins.ConfigString, Default: defaultOffsetsTable, Importance: plugins.Low, Group: "Writes", OrderInGroup: 5,
		Documentation: "Table holding the sink's offsets with exactly.once=true (created when missing)."}).
	Define(plugins.ConfigKey{Name: connectorNameConfig, Type: plugins.ConfigString, Default: "", Internal: true, Importance: plugins.Low,
		Documentation: "The connector's name (set by the runtime); keys the exactly-once offsets."})

func init() {
	plugins.Register(plugins.Registration{
		Class: "io.confluent.connect.jdbc.JdbcSourceConnector", Type: plugins.PluginSource,
		Aliases: []string{"jdbc-source", "postgres-source"}, Doc: "Copy PostgreSQL tables or a query into topics (bulk, incrementing, timestamp, xmin)",
		New: func() any { return &SourceConnector{} },
	})
	plugins.Register(plugins.Registration{
		Class: "io.confluent.connect.jdbc.JdbcSinkConnector", Type: plugins.PluginSink,
		Aliases: []string{"jdbc-sink", "postgres-sink"}, Doc: "Write records into PostgreSQL tables (insert, upsert, update, delete)",
		New: func() any { return &SinkConnector{} },
	})
}

// tableID names one relation.
type tableID struct {
	Schema string `json:"schema"`
	Name   string `json:"name"`
}

// quoted is the SQL spelling "schema"."name".
func (t tableID) quoted() string {
	if t.Schema == "" {
		return quoteIdent(t.Name)
	}
	return quoteIdent(t.Schema) + "." + quoteIdent(t.Name)
}

func (t tableID) String() string {
	if t.Schema == "" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func encodeTables(ts []tableID) string {
	b, _ := json.Marshal(ts)
	return string(b)
}

func decodeTables(s string) ([]tableID, error) {
	if s == "" {
		return nil, nil
	}
	var ts []tableID
	if err := json.Unmarshal([]byte(s), &ts); err != nil {
		return nil, fmt.Errorf("task config %q: %w", tablesConfig, err)
	}
	return ts, nil
}
