package elasticsearch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Configuration keys, spelled as Confluent's Elasticsearch sink spells them.
const (
	ConnectionURL         = "connection.url"
	ConnectionUsername    = "connection.username"
	ConnectionPassword    = "connection.password"
	ConnectionTimeout     = "connection.timeout.ms"
	ReadTimeout           = "read.timeout.ms"
	SecurityProtocol      = "elastic.security.protocol"
	SSLTruststoreLocation = "elastic.https.ssl.truststore.location"
	SSLKeystoreLocation   = "elastic.https.ssl.keystore.location"
	SSLKeystorePassword   = "elastic.https.ssl.keystore.password"
	SSLKeyPassword        = "elastic.https.ssl.key.password"
	SSLEndpointIdent      = "elastic.https.ssl.endpoint.identification.algorithm"
	KeyIgnore             = "key.ignore"
	SchemaIgnore          = "schema.ignore"
	CompactMapEntries     = "compact.map.entries"
	WriteMethod           = "write.method"
	BehaviorOnNull        = "behavior.on.null.values"
	BehaviorOnMalformed   = "behavior.on.malformed.documents"
	DropInvalidMessage    = "drop.invalid.message"
	BatchSize             = "batch.size"
	BulkSizeBytes         = "bulk.size.bytes"
	MaxInFlight           = "max.in.flight.requests"
	MaxBuffered           = "max.buffered.records"
	LingerMs              = "linger.ms"
	FlushTimeout          = "flush.timeout.ms"
	FlushSynchronously    = "flush.synchronously"
	MaxRetries            = "max.retries"
	RetryBackoff          = "retry.backoff.ms"
	DataStreamType        = "data.stream.type"
	DataStreamDataset     = "data.stream.dataset"
	DataStreamTimestamp   = "data.stream.timestamp.field"
)

var configDef = plugins.NewConfigDef().
	Define(plugins.ConfigKey{Name: ConnectionURL, Type: plugins.ConfigList, Default: plugins.NoDefault, Validator: urlList{}, Importance: plugins.High,
		Group: "Connector", OrderInGroup: 1, Width: plugins.WidthLong, DisplayName: "Connection URLs",
		Documentation: "Elasticsearch HTTP(S) URLs, comma separated (http://host:9200,…); requests are spread over them."}).
	Define(plugins.ConfigKey{Name: ConnectionUsername, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Connector", OrderInGroup: 2,
		Documentation: "User for HTTP basic authentication; empty: none."}).
	Define(plugins.ConfigKey{Name: ConnectionPassword, Type: plugins.ConfigPassword, Default: "", Importance: plugins.Medium, Group: "Connector", OrderInGroup: 3,
		Documentation: "Password for HTTP basic authentication."}).
	Define(plugins.ConfigKey{Name: ConnectionTimeout, Type: plugins.ConfigInt, Default: 1000, Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Connector", OrderInGroup: 4,
		Documentation: "Milliseconds to wait for a TCP connection to Elasticsearch."}).
	Define(plugins.ConfigKey{Name: ReadTimeout, Type: plugins.ConfigInt, Default: 3000, Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Connector", OrderInGroup: 5,
		Documentation: "Milliseconds to wait for a response once a request is sent."}).
	Define(plugins.ConfigKey{Name: SecurityProtocol, Type: plugins.ConfigString, Default: "PLAINTEXT", Validator: plugins.OneOfIgnoreCase("PLAINTEXT", "SSL"),
		Importance: plugins.Medium, Group: "Security", OrderInGroup: 1, Documentation: "PLAINTEXT or SSL (HTTPS with the elastic.https.ssl.* settings)."}).
	Define(plugins.ConfigKey{Name: SSLTruststoreLocation, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Security", OrderInGroup: 2,
		Documentation: "PEM file of the CA certificates to trust (Java trust stores are not read; convert them to PEM). Empty: the system roots."}).
	Define(plugins.ConfigKey{Name: SSLKeystoreLocation, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Security", OrderInGroup: 3,
		Documentation: "PEM file holding the client certificate and its private key, for mutual TLS."}).
	Define(plugins.ConfigKey{Name: SSLKeystorePassword, Type: plugins.ConfigPassword, Default: "", Importance: plugins.Low, Group: "Security", OrderInGroup: 4,
		Documentation: "Accepted for compatibility; PEM key files must be unencrypted."}).
	Define(plugins.ConfigKey{Name: SSLKeyPassword, Type: plugins.ConfigPassword, Default: "", Importance: plugins.Low, Group: "Security", OrderInGroup: 5,
		Documentation: "Accepted for compatibility; PEM key files must be unencrypted."}).
	Define(plugins.ConfigKey{Name: SSLEndpointIdent, Type: plugins.ConfigString, Default: "https", Importance: plugins.Low, Group: "Security", OrderInGroup: 6,
		Documentation: "https checks the server's host name against its certificate; empty turns the check off."}).
	Define(plugins.ConfigKey{Name: KeyIgnore, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.High, Group: "Data Conversion", OrderInGroup: 1,
		Documentation: "Ignore record keys: document ids are topic+partition+offset. Otherwise the key is the id and the Kafka offset the document's external version, so a replayed older record never overwrites a newer document."}).
	Define(plugins.ConfigKey{Name: SchemaIgnore, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 2,
		Documentation: "Do not create index mappings from the record's value schema; Elasticsearch infers them."}).
	Define(plugins.ConfigKey{Name: CompactMapEntries, Type: plugins.ConfigBoolean, Default: true, Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 3,
		Documentation: "Write maps with string keys as JSON objects; false writes every map as an array of {key, value} entries."}).
	Define(plugins.ConfigKey{Name: WriteMethod, Type: plugins.ConfigString, Default: "insert", Validator: plugins.OneOfIgnoreCase("insert", "upsert"),
		Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 4,
		Documentation: "insert replaces the whole document; upsert merges the record's fields into it (partial update)."}).
	Define(plugins.ConfigKey{Name: BehaviorOnNull, Type: plugins.ConfigString, Default: "fail", Validator: plugins.OneOfIgnoreCase("ignore", "delete", "fail"),
		Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 5,
		Documentation: "What a null value (tombstone) does: ignore it, delete the key's document, or fail the task."}).
	Define(plugins.ConfigKey{Name: BehaviorOnMalformed, Type: plugins.ConfigString, Default: "fail", Validator: plugins.OneOfIgnoreCase("ignore", "warn", "fail"),
		Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 6,
		Documentation: "What a document Elasticsearch rejects (mapping or parse error) does when no dead letter queue takes it: ignore, warn (log) or fail the task."}).
	Define(plugins.ConfigKey{Name: DropInvalidMessage, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Low, Group: "Data Conversion", OrderInGroup: 7,
		Documentation: "Drop records that cannot become a document (a null key with key.ignore=false) instead of failing."}).
	Define(plugins.ConfigKey{Name: BatchSize, Type: plugins.ConfigInt, Default: 2000, Validator: plugins.Between(1, 1000000), Importance: plugins.Medium, Group: "Connector", OrderInGroup: 6,
		Documentation: "Maximum documents in one bulk request."}).
	Define(plugins.ConfigKey{Name: BulkSizeBytes, Type: plugins.ConfigLong, Default: int64(5 << 20), Validator: plugins.AtLeast(-1), Importance: plugins.Low, Group: "Connector", OrderInGroup: 7,
		Documentation: "Maximum bytes of one bulk request; -1: no limit."}).
	Define(plugins.ConfigKey{Name: MaxInFlight, Type: plugins.ConfigInt, Default: 5, Validator: plugins.Between(1, 1000), Importance: plugins.Medium, Group: "Connector", OrderInGroup: 8,
		Documentation: "Bulk requests sent concurrently by one task."}).
	Define(plugins.ConfigKey{Name: MaxBuffered, Type: plugins.ConfigInt, Default: 20000, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Connector", OrderInGroup: 9,
		Documentation: "Documents one task holds unacknowledged (buffered or in flight) before Put waits for Elasticsearch."}).
	Define(plugins.ConfigKey{Name: LingerMs, Type: plugins.ConfigLong, Default: int64(1), Validator: plugins.Between(0, 86400000), Importance: plugins.Low, Group: "Connector", OrderInGroup: 10,
		Documentation: "Milliseconds a partial batch may wait for more records before it is sent."}).
	Define(plugins.ConfigKey{Name: FlushTimeout, Type: plugins.ConfigLong, Default: int64(180000), Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Connector", OrderInGroup: 11,
		Documentation: "Milliseconds a flush may take (retries included) before it is reported as a retriable error and redelivered."}).
	Define(plugins.ConfigKey{Name: FlushSynchronously, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Low, Group: "Connector", OrderInGroup: 12,
		Documentation: "true: every offset commit first waits until all buffered documents are written. false: commits cover only what is acknowledged and the rest follows; offsets never pass an unwritten document either way."}).
	Define(plugins.ConfigKey{Name: MaxRetries, Type: plugins.ConfigInt, Default: 5, Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Connector", OrderInGroup: 13,
		Documentation: "Retries of a failed bulk request (429, 5xx, connection errors) before the batch is handed back to the runtime to redeliver."}).
	Define(plugins.ConfigKey{Name: RetryBackoff, Type: plugins.ConfigLong, Default: int64(100), Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Connector", OrderInGroup: 14,
		Documentation: "Milliseconds of the first retry's backoff; it doubles per retry with full jitter, and a Retry-After header is honoured."}).
	Define(plugins.ConfigKey{Name: DataStreamType, Type: plugins.ConfigString, Default: "NONE", Validator: plugins.OneOfIgnoreCase("NONE", "LOGS", "METRICS"),
		Importance: plugins.Low, Group: "Data Stream", OrderInGroup: 1,
		Documentation: "NONE writes to indices; LOGS or METRICS writes to the data stream <type>-<dataset>-<topic>."}).
	Define(plugins.ConfigKey{Name: DataStreamDataset, Type: plugins.ConfigString, Default: "", Validator: datasetValidator, Importance: plugins.Low, Group: "Data Stream", OrderInGroup: 2,
		Documentation: "Dataset of the data stream name; required with data.stream.type."}).
	Define(plugins.ConfigKey{Name: DataStreamTimestamp, Type: plugins.ConfigList, Default: "", Importance: plugins.Low, Group: "Data Stream", OrderInGroup: 3,
		Documentation: "Value fields copied into @timestamp (the first present wins); empty or missing: the record's Kafka timestamp."})

// urlList checks every URL is http(s)://host.
type urlList struct{}

func (urlList) Validate(name string, v any) error {
	l, _ := v.([]string)
	if len(l) == 0 {
		return fmt.Errorf("at least one URL is required")
	}
	for _, u := range l {
		u = strings.TrimSpace(u)
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") || len(u) <= len("https://") {
			return fmt.Errorf("%q is not an http:// or https:// URL", u)
		}
	}
	return nil
}
func (urlList) String() string { return "list of http(s) URLs" }

var datasetValidator = plugins.ValidatorFunc("data stream dataset", func(_ string, v any) error {
	s, _ := v.(string)
	if len(s) > 100 || strings.ContainsAny(s, `\/*?"<>| ,#:-`) || s != strings.ToLower(s) {
		return fmt.Errorf("dataset %q must be lower case, at most 100 characters, without \\/*?\"<>| ,#:-", s)
	}
	return nil
})

func init() {
	plugins.Register(plugins.Registration{
		Class: "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector", Type: plugins.PluginSink,
		Aliases: []string{"ElasticsearchSink", "elasticsearch-sink"},
		Doc:     "Index records into Elasticsearch (ids from keys, external versions by offset, data streams)",
		New:     func() any { return &SinkConnector{} },
	})
}

// settings are the parsed keys.
type settings struct {
	urls                    []string
	user, password          string
	connTimeout, readTO     time.Duration
	ssl                     bool
	caFile, certFile        string
	verifyHost              bool
	keyIgnore, schemaIgnore bool
	compactMaps             bool
	upsert                  bool
	onNull, onMalformed     string
	dropInvalid             bool
	batchSize               int
	maxBuffered             int
	linger                  time.Duration
	flushSync               bool
	maxPoll                 int // the runtime's max.poll.records: a shorter Put is the tail of the backlog
	bulkBytes               int64
	inFlight                int
	maxRetries              int
	backoff                 time.Duration
	flushTimeout            time.Duration
	dsType, dsDataset       string
	dsTimestamp             []string
}

func parse(cfg plugins.Config) (*settings, error) {
	p, err := configDef.Parse(cfg)
	if err != nil {
		return nil, err
	}
	s := &settings{
		urls: p.List(ConnectionURL), user: p.String(ConnectionUsername), password: string(p.Password(ConnectionPassword)),
		connTimeout: time.Duration(p.Int(ConnectionTimeout)) * time.Millisecond, readTO: time.Duration(p.Int(ReadTimeout)) * time.Millisecond,
		ssl: strings.EqualFold(p.String(SecurityProtocol), "SSL"), caFile: p.String(SSLTruststoreLocation), certFile: p.String(SSLKeystoreLocation),
		verifyHost: p.String(SSLEndpointIdent) != "", keyIgnore: p.Bool(KeyIgnore), schemaIgnore: p.Bool(SchemaIgnore),
		compactMaps: p.Bool(CompactMapEntries), upsert: strings.EqualFold(p.String(WriteMethod), "upsert"),
		onNull: strings.ToLower(p.String(BehaviorOnNull)), onMalformed: strings.ToLower(p.String(BehaviorOnMalformed)),
		dropInvalid: p.Bool(DropInvalidMessage), batchSize: p.Int(BatchSize), bulkBytes: p.Long(BulkSizeBytes),
		maxBuffered: p.Int(MaxBuffered), linger: time.Duration(p.Long(LingerMs)) * time.Millisecond, flushSync: p.Bool(FlushSynchronously),
		inFlight: p.Int(MaxInFlight), maxRetries: p.Int(MaxRetries), backoff: time.Duration(p.Long(RetryBackoff)) * time.Millisecond,
		flushTimeout: time.Duration(p.Long(FlushTimeout)) * time.Millisecond,
		dsType:       strings.ToLower(p.String(DataStreamType)), dsDataset: p.String(DataStreamDataset), dsTimestamp: p.List(DataStreamTimestamp),
	}
	s.maxPoll = 500
	if v := strings.TrimSpace(cfg["consumer.override.max.poll.records"]); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			s.maxPoll = n
		}
	}
	for i, u := range s.urls {
		s.urls[i] = strings.TrimSpace(u)
	}
	if s.dsType == "none" {
		s.dsType = ""
	}
	if (s.dsType == "") != (s.dsDataset == "") {
		return nil, fmt.Errorf("%s and %s go together: set both or neither", DataStreamType, DataStreamDataset)
	}
	if !s.compactMaps {
		return nil, fmt.Errorf("%s=false is not supported: maps with string keys are written as JSON objects", CompactMapEntries)
	}
	if s.dsType != "" && s.upsert {
		return nil, fmt.Errorf("%s=upsert cannot write to a data stream (append only)", WriteMethod)
	}
	if s.dsType != "" && s.onNull == "delete" {
		return nil, fmt.Errorf("%s=delete cannot delete from a data stream (append only)", BehaviorOnNull)
	}
	return s, nil
}
