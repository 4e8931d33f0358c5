package stomp

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Configuration keys shared by the source and the sink.
const (
	URLConfig               = "stomp.url"
	LoginConfig             = "stomp.login"
	PasscodeConfig          = "stomp.passcode"
	VhostConfig             = "stomp.vhost"
	HeartbeatSendConfig     = "stomp.heartbeat.send.ms"
	HeartbeatReceiveConfig  = "stomp.heartbeat.receive.ms"
	BackoffConfig           = "stomp.reconnect.backoff.ms"
	BackoffMaxConfig        = "stomp.reconnect.backoff.max.ms"
	ValueTypeConfig         = "stomp.value.type"
	TLSInsecureConfig       = "stomp.tls.insecure.skip.verify"
	BatchSizeConfig         = "batch.size"
	ErrorsToleranceConfig   = "errors.tolerance"  // the runtime's key, read by the source for poison messages
	activemqURLAlias        = "activemq.url"      // Confluent ActiveMQ source
	activemqUserAlias       = "activemq.username" // Confluent ActiveMQ source
	activemqPasswordAlias   = "activemq.password" // Confluent ActiveMQ source
	defaultHeartbeat        = 10000
	defaultBackoffMs        = 100
	defaultBackoffMaxMs     = 10000
	defaultSourceBatchSize  = 1024 // Confluent's default
	defaultSinkBatchSize    = 500
	defaultPrefetch         = 1000
	defaultDedupWindow      = 100000
	defaultSinkMaxInFlight  = 2000
	defaultSinkReceiptWait  = 30000
	valueTypeBytes          = "bytes"
	valueTypeString         = "string"
	ackClientIndividual     = "client-individual"
	ackClient               = "client"
	toleranceAll            = "all"
	destinationPlaceholder  = "${destination}"
	topicPlaceholder        = "${topic}"
	queuePrefix             = "/queue/"
	topicPrefix             = "/topic/"
	destinationTypeQueue    = "queue"
	destinationTypeTopic    = "topic"
	sinkDefaultDestination  = "/queue/${topic}"
	sourcePartitionDestKey  = "destination"
	sourceOffsetMessageID   = "message-id"
	headerPrefix            = "stomp."
	kafkaKeyHeader          = "kafka.key"
	taskDestinationsConfig  = "stomp.task.destinations" // set by TaskConfigs
	taskIDConfig            = "stomp.task.id"           // set by TaskConfigs
	defaultSinkPersistent   = true
	defaultSinkReceiptsFlag = true
)

// Source-only keys.
const (
	DestinationsConfig     = "stomp.destinations"
	KafkaTopicConfig       = "kafka.topic"
	KafkaTopicFormatConfig = "kafka.topic.format"
	AckModeConfig          = "stomp.ack.mode"
	PrefetchConfig         = "stomp.prefetch"
	SelectorConfig         = "stomp.selector"
	SubscriptionNameConfig = "stomp.subscription.name"
	ClientIDConfig         = "stomp.client.id"
	KeyHeaderConfig        = "key.header"
	DedupWindowConfig      = "stomp.dedup.window"

	jmsDestinationNameAlias = "jms.destination.name"  // Confluent ActiveMQ source
	jmsDestinationTypeAlias = "jms.destination.type"  // Confluent ActiveMQ source
	jmsSelectorAlias        = "jms.message.selector"  // Confluent ActiveMQ source
	jmsClientIDAlias        = "jms.client.id"         // Confluent JMS source
	jmsSubscriptionAlias    = "jms.subscription.name" // Confluent JMS source
)

// Sink-only keys.
const (
	DestinationConfig  = "stomp.destination"
	PersistentConfig   = "stomp.persistent"
	ReceiptsConfig     = "stomp.receipts"
	MaxInFlightConfig  = "stomp.max.in.flight"
	ReceiptTimeoutConf = "stomp.receipt.timeout.ms"
)

func connectionKeys(d *plugins.ConfigDef, group string) *plugins.ConfigDef {
	return d.
		Define(plugins.ConfigKey{Name: URLConfig, Type: plugins.ConfigList, Default: nil, Importance: plugins.High, Group: group, OrderInGroup: 1,
			Documentation: "STOMP broker address: tcp://host:61613 (stomp://, stomp+nio://, and stomp+ssl:// or ssl:// for TLS). A list, or failover:(a,b), is tried in order for failover. activemq.url is accepted too."}).
		Define(plugins.ConfigKey{Name: activemqURLAlias, Type: plugins.ConfigList, Default: nil, Importance: plugins.Low, Group: group, OrderInGroup: 2,
			Documentation: "Alias of stomp.url (Confluent's ActiveMQ source). The host and port must be the broker's STOMP connector."}).
		Define(plugins.ConfigKey{Name: LoginConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.High, Group: group, OrderInGroup: 3,
			Documentation: "login header of CONNECT (activemq.username is accepted too)."}).
		Define(plugins.ConfigKey{Name: activemqUserAlias, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: group, OrderInGroup: 4,
			Documentation: "Alias of stomp.login."}).
		Define(plugins.ConfigKey{Name: PasscodeConfig, Type: plugins.ConfigPassword, Default: "", Importance: plugins.High, Group: group, OrderInGroup: 5,
			Documentation: "passcode header of CONNECT (activemq.password is accepted too)."}).
		Define(plugins.ConfigKey{Name: activemqPasswordAlias, Type: plugins.ConfigPassword, Default: "", Importance: plugins.Low, Group: group, OrderInGroup: 6,
			Documentation: "Alias of stomp.passcode."}).
		Define(plugins.ConfigKey{Name: VhostConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: group, OrderInGroup: 7,
			Documentation: "host header of CONNECT (the virtual host); default: the broker's host name."}).
		Define(plugins.ConfigKey{Name: HeartbeatSendConfig, Type: plugins.ConfigLong, Default: int64(defaultHeartbeat), Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: group, OrderInGroup: 8,
			Documentation: "Heart-beat the client offers to send, in ms (0: none)."}).
		Define(plugins.ConfigKey{Name: HeartbeatReceiveConfig, Type: plugins.ConfigLong, Default: int64(defaultHeartbeat), Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: group, OrderInGroup: 9,
			Documentation: "Heart-beat the client wants to receive, in ms (0: none). A silent broker is detected after this and a grace period, and the connection is re-established."}).
		Define(plugins.ConfigKey{Name: BackoffConfig, Type: plugins.ConfigLong, Default: int64(defaultBackoffMs), Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: group, OrderInGroup: 10,
			Documentation: "First wait before reconnecting after a lost connection, in ms; doubled after each failed attempt."}).
		Define(plugins.ConfigKey{Name: BackoffMaxConfig, Type: plugins.ConfigLong, Default: int64(defaultBackoffMaxMs), Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: group, OrderInGroup: 11,
			Documentation: "Longest wait between reconnection attempts, in ms."}).
		Define(plugins.ConfigKey{Name: TLSInsecureConfig, Type: plugins.ConfigBoolean, Default: false, Importance: plugins.Low, Group: group, OrderInGroup: 12,
			Documentation: "With stomp+ssl://, accept any server certificate (tests only)."}).
		Define(plugins.ConfigKey{Name: ValueTypeConfig, Type: plugins.ConfigString, Default: valueTypeBytes, Validator: plugins.OneOf(valueTypeBytes, valueTypeString), Importance: plugins.Medium, Group: group, OrderInGroup: 13,
			Documentation: "bytes: the body is the record value's bytes (optional BYTES schema; a BytesMessage for JMS). string: the value is text (optional STRING schema; the source treats invalid UTF-8 as a poison message, the sink sends a TextMessage)."})
}

var sourceConfigDef = connectionKeys(plugins.NewConfigDef(), "Connection").
	Define(plugins.ConfigKey{Name: DestinationsConfig, Type: plugins.ConfigList, Default: nil, Importance: plugins.High, Group: "Source", OrderInGroup: 1,
		Documentation: "Destinations to consume, e.g. /queue/orders,/topic/prices (a name without prefix is a queue)."}).
	Define(plugins.ConfigKey{Name: jmsDestinationNameAlias, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Source", OrderInGroup: 2,
		Documentation: "Confluent ActiveMQ source: the destination's name, with jms.destination.type."}).
	Define(plugins.ConfigKey{Name: jmsDestinationTypeAlias, Type: plugins.ConfigString, Default: destinationTypeQueue, Validator: plugins.OneOfIgnoreCase(destinationTypeQueue, destinationTypeTopic), Importance: plugins.Low, Group: "Source", OrderInGroup: 3,
		Documentation: "Confluent ActiveMQ source: queue or topic."}).
	Define(plugins.ConfigKey{Name: KafkaTopicConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.High, Group: "Source", OrderInGroup: 4,
		Documentation: "Kafka topic the records go to."}).
	Define(plugins.ConfigKey{Name: KafkaTopicFormatConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Source", OrderInGroup: 5,
		Documentation: "Kafka topic per destination; ${destination} is the destination's name without /queue/ or /topic/ (characters Kafka does not allow become _). Wins over kafka.topic."}).
	Define(plugins.ConfigKey{Name: AckModeConfig, Type: plugins.ConfigString, Default: ackClientIndividual, Validator: plugins.OneOf(ackClientIndividual, ackClient), Importance: plugins.Medium, Group: "Source", OrderInGroup: 6,
		Documentation: "client-individual acknowledges each message once its record is in the log; client acknowledges cumulatively, up to the oldest message whose record is not yet in the log."}).
	Define(plugins.ConfigKey{Name: PrefetchConfig, Type: plugins.ConfigInt, Default: defaultPrefetch, Validator: plugins.AtLeast(1), Importance: plugins.Medium, Group: "Source", OrderInGroup: 7,
		Documentation: "Unacknowledged messages the broker may push per subscription (ActiveMQ's activemq.prefetchSize)."}).
	Define(plugins.ConfigKey{Name: SelectorConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Source", OrderInGroup: 8,
		Documentation: "JMS (SQL-92) message selector sent as the selector header (jms.message.selector is accepted too)."}).
	Define(plugins.ConfigKey{Name: jmsSelectorAlias, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Source", OrderInGroup: 9,
		Documentation: "Alias of stomp.selector."}).
	Define(plugins.ConfigKey{Name: SubscriptionNameConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Source", OrderInGroup: 10,
		Documentation: "Makes topic subscriptions durable (ActiveMQ's activemq.subscriptionName, with client-id stomp.client.id or this name): messages published while the connector is down are kept for it."}).
	Define(plugins.ConfigKey{Name: jmsSubscriptionAlias, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Source", OrderInGroup: 11,
		Documentation: "Alias of stomp.subscription.name."}).
	Define(plugins.ConfigKey{Name: ClientIDConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Source", OrderInGroup: 12,
		Documentation: "client-id of durable subscriptions' connections; default stomp.subscription.name. With several topics the topic name is appended."}).
	Define(plugins.ConfigKey{Name: jmsClientIDAlias, Type: plugins.ConfigString, Default: "", Importance: plugins.Low, Group: "Source", OrderInGroup: 13,
		Documentation: "Alias of stomp.client.id."}).
	Define(plugins.ConfigKey{Name: KeyHeaderConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: "Source", OrderInGroup: 14,
		Documentation: "Header whose value is the record key; default the message-id. A message without it has a null key."}).
	Define(plugins.ConfigKey{Name: BatchSizeConfig, Type: plugins.ConfigInt, Default: defaultSourceBatchSize, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Source", OrderInGroup: 15,
		Documentation: "Most records returned by one poll."}).
	Define(plugins.ConfigKey{Name: DedupWindowConfig, Type: plugins.ConfigInt, Default: defaultDedupWindow, Validator: plugins.AtLeast(0), Importance: plugins.Low, Group: "Source", OrderInGroup: 16,
		Documentation: "How many message-ids of records already in the log are remembered, so a redelivery of one of them (after a lost connection) is acknowledged instead of written twice."}).
	Define(plugins.ConfigKey{Name: taskDestinationsConfig, Type: plugins.ConfigList, Default: nil, Internal: true, Importance: plugins.Low,
		Documentation: "Set by the connector: the destinations of one task."}).
	Define(plugins.ConfigKey{Name: taskIDConfig, Type: plugins.ConfigInt, Default: 0, Internal: true, Importance: plugins.Low,
		Documentation: "Set by the connector for each task."})

var sinkConfigDef = connectionKeys(plugins.NewConfigDef(), "Connection").
	Define(plugins.ConfigKey{Name: DestinationConfig, Type: plugins.ConfigString, Default: sinkDefaultDestination, Validator: plugins.NonEmptyString(), Importance: plugins.High, Group: "Sink", OrderInGroup: 1,
		Documentation: "Destination every record is sent to; ${topic} is the record's topic."}).
	Define(plugins.ConfigKey{Name: PersistentConfig, Type: plugins.ConfigBoolean, Default: defaultSinkPersistent, Importance: plugins.Medium, Group: "Sink", OrderInGroup: 2,
		Documentation: "Send with persistent:true, so the broker keeps the message across restarts."}).
	Define(plugins.ConfigKey{Name: ReceiptsConfig, Type: plugins.ConfigBoolean, Default: defaultSinkReceiptsFlag, Importance: plugins.Medium, Group: "Sink", OrderInGroup: 3,
		Documentation: "Ask a RECEIPT for every SEND and commit a record's offset only after it arrived. Off: fire and forget (offsets are committed once the frames are written to the socket)."}).
	Define(plugins.ConfigKey{Name: BatchSizeConfig, Type: plugins.ConfigInt, Default: defaultSinkBatchSize, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Sink", OrderInGroup: 4,
		Documentation: "SEND frames written to the socket at once; their receipts are awaited together, never one by one."}).
	Define(plugins.ConfigKey{Name: MaxInFlightConfig, Type: plugins.ConfigInt, Default: defaultSinkMaxInFlight, Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Sink", OrderInGroup: 5,
		Documentation: "Most SENDs whose receipt has not arrived; Put waits beyond it."}).
	Define(plugins.ConfigKey{Name: ReceiptTimeoutConf, Type: plugins.ConfigLong, Default: int64(defaultSinkReceiptWait), Validator: plugins.AtLeast(1), Importance: plugins.Low, Group: "Sink", OrderInGroup: 6,
		Documentation: "How long a receipt may take before the connection is considered broken, re-established, and the unconfirmed messages sent again."})

// connSettings is what both sides need to connect.
type connSettings struct {
	addrs       []brokerAddr
	login       string
	passcode    string
	vhost       string
	hbSend      time.Duration
	hbRecv      time.Duration
	backoff     time.Duration
	backoffMax  time.Duration
	tlsInsecure bool
	valueString bool
}

func parseConn(p *plugins.ParsedConfig) (connSettings, error) {
	var s connSettings
	urls := p.List(URLConfig)
	if len(urls) == 0 {
		urls = p.List(activemqURLAlias)
	}
	if len(urls) == 0 {
		return s, fmt.Errorf("Missing required configuration %q which has no default value.", URLConfig)
	}
	addrs, err := parseURLs(urls)
	if err != nil {
		return s, fmt.Errorf("%s: %w", URLConfig, err)
	}
	s.addrs = addrs
	s.login = firstNonEmpty(p.String(LoginConfig), p.String(activemqUserAlias))
	s.passcode = firstNonEmpty(string(p.Password(PasscodeConfig)), string(p.Password(activemqPasswordAlias)))
	s.vhost = p.String(VhostConfig)
	s.hbSend = time.Duration(p.Long(HeartbeatSendConfig)) * time.Millisecond
	s.hbRecv = time.Duration(p.Long(HeartbeatReceiveConfig)) * time.Millisecond
	s.backoff = time.Duration(p.Long(BackoffConfig)) * time.Millisecond
	s.backoffMax = time.Duration(p.Long(BackoffMaxConfig)) * time.Millisecond
	if s.backoffMax < s.backoff {
		s.backoffMax = s.backoff
	}
	s.tlsInsecure = p.Bool(TLSInsecureConfig)
	s.valueString = p.String(ValueTypeConfig) == valueTypeString
	return s, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// sourceSettings is a parsed source (or source task) configuration.
type sourceSettings struct {
	connSettings
	destinations []string // normalised: /queue/x or /topic/x
	topic        string
	topicFormat  string
	ackClient    bool // cumulative "client" mode
	prefetch     int
	selector     string
	subName      string
	clientID     string
	keyHeader    string
	batchSize    int
	dedupWindow  int
	tolerateAll  bool
	taskID       int
}

func parseSource(cfg plugins.Config) (sourceSettings, error) {
	var s sourceSettings
	p, err := sourceConfigDef.Parse(cfg)
	if err != nil {
		return s, err
	}
	if s.connSettings, err = parseConn(p); err != nil {
		return s, err
	}
	dests := p.List(taskDestinationsConfig)
	if dests == nil {
		dests = p.List(DestinationsConfig)
		if name := p.String(jmsDestinationNameAlias); name != "" {
			prefix := queuePrefix
			if strings.EqualFold(p.String(jmsDestinationTypeAlias), destinationTypeTopic) {
				prefix = topicPrefix
			}
			dests = append(dests, prefix+name)
		}
	}
	seen := map[string]bool{}
	for _, d := range dests {
		d = normalizeDestination(strings.TrimSpace(d))
		if d == "" || seen[d] {
			continue
		}
		seen[d] = true
		s.destinations = append(s.destinations, d)
	}
	if len(s.destinations) == 0 && p.List(taskDestinationsConfig) == nil {
		return s, fmt.Errorf("Missing required configuration %q which has no default value.", DestinationsConfig)
	}
	s.topic = p.String(KafkaTopicConfig)
	s.topicFormat = p.String(KafkaTopicFormatConfig)
	if s.topic == "" && s.topicFormat == "" {
		return s, fmt.Errorf("Missing required configuration %q (or %q) which has no default value.", KafkaTopicConfig, KafkaTopicFormatConfig)
	}
	if s.topicFormat == "" && strings.Contains(s.topic, destinationPlaceholder) {
		s.topicFormat = s.topic
	}
	s.ackClient = p.String(AckModeConfig) == ackClient
	s.prefetch = p.Int(PrefetchConfig)
	s.selector = firstNonEmpty(p.String(SelectorConfig), p.String(jmsSelectorAlias))
	s.subName = firstNonEmpty(p.String(SubscriptionNameConfig), p.String(jmsSubscriptionAlias))
	s.clientID = firstNonEmpty(p.String(ClientIDConfig), p.String(jmsClientIDAlias), s.subName)
	s.keyHeader = p.String(KeyHeaderConfig)
	s.batchSize = p.Int(BatchSizeConfig)
	s.dedupWindow = p.Int(DedupWindowConfig)
	s.tolerateAll = strings.EqualFold(strings.TrimSpace(cfg[ErrorsToleranceConfig]), toleranceAll)
	s.taskID = p.Int(taskIDConfig)
	return s, nil
}

// normalizeDestination gives a bare name the /queue/ prefix, as ActiveMQ's
// STOMP connector would treat it as a queue anyway.
func normalizeDestination(d string) string {
	if d == "" || strings.HasPrefix(d, "/") {
		return d
	}
	return queuePrefix + d
}

func isTopic(d string) bool { return strings.HasPrefix(d, topicPrefix) }

// destinationName strips /queue/ or /topic/ (and any other leading /x/).
func destinationName(d string) string {
	for _, p := range []string{queuePrefix, topicPrefix, "/temp-queue/", "/temp-topic/"} {
		if strings.HasPrefix(d, p) {
			return d[len(p):]
		}
	}
	return strings.TrimPrefix(d, "/")
}

// kafkaTopicFor names the Kafka topic of a destination's records.
func (s *sourceSettings) kafkaTopicFor(dest string) string {
	if s.topicFormat == "" {
		return s.topic
	}
	return strings.ReplaceAll(s.topicFormat, destinationPlaceholder, sanitizeTopic(destinationName(dest)))
}

// sanitizeTopic maps characters Kafka topic names may not hold to '_'.
func sanitizeTopic(n string) string {
	b := []byte(n)
	for i, c := range b {
		ok := c == '.' || c == '_' || c == '-' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	return string(b)
}

// sinkSettings is a parsed sink configuration.
type sinkSettings struct {
	connSettings
	destination    string
	persistent     bool
	receipts       bool
	batchSize      int
	maxInFlight    int
	receiptTimeout time.Duration
}

func parseSink(cfg plugins.Config) (sinkSettings, error) {
	var s sinkSettings
	p, err := sinkConfigDef.Parse(cfg)
	if err != nil {
		return s, err
	}
	if s.connSettings, err = parseConn(p); err != nil {
		return s, err
	}
	s.destination = p.String(DestinationConfig)
	if !strings.HasPrefix(s.destination, "/") {
		return s, fmt.Errorf("Invalid value %s for configuration %s: a destination starts with /queue/ or /topic/", s.destination, DestinationConfig)
	}
	s.persistent = p.Bool(PersistentConfig)
	s.receipts = p.Bool(ReceiptsConfig)
	s.batchSize = p.Int(BatchSizeConfig)
	s.maxInFlight = max(p.Int(MaxInFlightConfig), s.batchSize)
	s.receiptTimeout = time.Duration(p.Long(ReceiptTimeoutConf)) * time.Millisecond
	return s, nil
}

func (s *sinkSettings) destinationFor(topic string) string {
	return strings.ReplaceAll(s.destination, topicPlaceholder, topic)
}

var errStopped = errors.New("stomp: task stopped")

func init() {
	plugins.Register(plugins.Registration{
		Class: "io.weir.connect.stomp.StompSourceConnector", Type: plugins.PluginSource,
		Aliases: []string{"stomp-source"}, Doc: "Consume STOMP queues and topics (ActiveMQ), acknowledging each message once its record is in the log",
		New: func() any { return &SourceConnector{} },
	})
	plugins.Register(plugins.Registration{
		Class: "io.weir.connect.stomp.StompSinkConnector", Type: plugins.PluginSink,
		Aliases: []string{"stomp-sink"}, Doc: "Send records to a STOMP destination (ActiveMQ), committing offsets only after the broker's RECEIPT",
		New: func() any { return &SinkConnector{} },
	})
}
