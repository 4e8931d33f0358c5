package runtime

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weirlog/weir/plugins"
)

// Config is a worker's configuration: the Go spelling of Kafka Connect's
// worker properties (connect-distributed.properties). The zero value of
// every field means "use the default"; see withDefaults.
type Config struct {
	// BootstrapServers is the Kafka cluster the worker stores its state in
	// and moves records through (bootstrap.servers).
	BootstrapServers []string

	// GroupID makes the worker distributed (group.id): workers with the
	// same GroupID and the same three topics form one Connect cluster
	// through the Kafka group protocol. Empty means standalone: this worker
	// runs every connector and task itself (state still lives in topics).
	GroupID string

	// Topic names (config.storage.topic, offset.storage.topic,
	// status.storage.topic) and their partition counts and replication
	// factor (-1: min(3, brokers the cluster lists), Kafka Connect's 3
	// where there are that many).
	ConfigTopic            string
	OffsetTopic            string
	StatusTopic            string
	OffsetTopicPartitions  int32
	StatusTopicPartitions  int32
	TopicReplicationFactor int16

	// HTTPAddr is where the REST API listens when the worker serves HTTP
	// itself (weir's own serve mounts Handler instead). AdvertisedURL is how
	// other workers reach this one (rest.advertised.*): followers forward
	// REST writes there. Default http://HTTPAddr.
	HTTPAddr      string
	AdvertisedURL string

	// WorkerID names this worker in status responses (default: the host:port
	// of AdvertisedURL, as Kafka Connect does).
	WorkerID string

	// Worker-level defaults for connectors that do not set their own
	// (key.converter, value.converter, header.converter and their
	// "key.converter.*" properties in ConverterConfig).
	KeyConverter    string
	ValueConverter  string
	HeaderConverter string
	ConverterConfig map[string]string

	// OffsetFlushInterval is how often source offsets and sink consumer
	// offsets are committed (offset.flush.interval.ms). Default 5s (Kafka:
	// 60s; weir favours fewer redeliveries after a crash).
	OffsetFlushInterval time.Duration
	// OffsetFlushTimeout bounds one flush (offset.flush.timeout.ms).
	OffsetFlushTimeout time.Duration

	// SessionTimeout, HeartbeatInterval and RebalanceTimeout are the group
	// membership timings of distributed mode.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// ScheduledRebalanceMaxDelay is how long the leader keeps a departed
	// worker's connectors and tasks unassigned in case it comes back
	// (scheduled.rebalance.max.delay.ms). Default 3s, not Kafka's 5 minutes.
	ScheduledRebalanceMaxDelay time.Duration

	// RestartBackoffMin/Max bound the exponential backoff between
	// automatic restarts of a failed connector or task. AutoRestart
	// switches automatic restarts off when set to a pointer to false;
	// connectors can opt out individually (spec.autoRestart.enabled).
	RestartBackoffMin time.Duration
	RestartBackoffMax time.Duration
	AutoRestart       *bool

	// Registerer receives the worker's Prometheus collectors; nil gives the
	// worker a registry of its own, served at /metrics by Handler.
	Registerer prometheus.Registerer

	// Plugins is where connector classes, converters and transforms are
	// looked up; nil means plugins.Default.
	Plugins *plugins.Registry

	// ConfigProviderKeys are connector config keys, besides those a plugin
	// declares as PASSWORD, whose values may hold ${env:…} and ${file:…}
	// references. A reference anywhere else is refused at validation.
	ConfigProviderKeys []string
	// EnvAllowlistPattern is the regular expression an environment
	// variable's name must match for ${env:NAME} to resolve it (Kafka's
	// EnvVarConfigProvider allowlist.pattern, anchored at both ends).
	// Empty lets no variable through.
	EnvAllowlistPattern string

	// ExactlyOnceSourceSupport enables KIP-618 transactional source tasks
	// ("enabled"); "disabled" (default) gives at-least-once delivery with
	// offsets committed only after the records are acknowledged.
	ExactlyOnceSourceSupport string
}

// Defaults, exported so the CLI can show them in --help.
const (
	DefaultHTTPAddr       = "127.0.0.1:8083"
	DefaultConfigTopic    = "connect-configs"
	DefaultOffsetTopic    = "connect-offsets"
	DefaultStatusTopic    = "connect-status"
	DefaultJSONConverter  = "org.apache.kafka.connect.json.JsonConverter"
	DefaultStringConveter = "org.apache.kafka.connect.storage.StringConverter"
	DefaultHeaderConveter = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
)

func (c Config) withDefaults() Config {
	if len(c.BootstrapServers) == 0 {
		c.BootstrapServers = []string{"127.0.0.1:9092"}
	}
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defd := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConfigTopic, DefaultConfigTopic)
	def(&c.OffsetTopic, DefaultOffsetTopic)
	def(&c.StatusTopic, DefaultStatusTopic)
	if c.OffsetTopicPartitions <= 0 {
		c.OffsetTopicPartitions = 25
	}
	if c.StatusTopicPartitions <= 0 {
		c.StatusTopicPartitions = 5
	}
	if c.TopicReplicationFactor == 0 {
		c.TopicReplicationFactor = -1
	}
	def(&c.HTTPAddr, DefaultHTTPAddr)
	def(&c.AdvertisedURL, "http://"+c.HTTPAddr)
	c.AdvertisedURL = strings.TrimRight(c.AdvertisedURL, "/")
	if c.WorkerID == "" {
		c.WorkerID = strings.TrimPrefix(strings.TrimPrefix(c.AdvertisedURL, "http://"), "https://")
	}
	def(&c.KeyConverter, DefaultJSONConverter)
	def(&c.ValueConverter, DefaultJSONConverter)
	def(&c.HeaderConverter, DefaultHeaderConveter)
	defd(&c.OffsetFlushInterval, 5*time.Second)
	defd(&c.OffsetFlushTimeout, 5*time.Second)
	defd(&c.SessionTimeout, 10*time.Second)
	defd(&c.HeartbeatInterval, c.SessionTimeout/4)
	defd(&c.RebalanceTimeout, 30*time.Second)
	defd(&c.ScheduledRebalanceMaxDelay, 3*time.Second)
	defd(&c.RestartBackoffMin, 500*time.Millisecond)
	defd(&c.RestartBackoffMax, 30*time.Second)
	if c.AutoRestart == nil {
		t := true
		c.AutoRestart = &t
	}
	if c.Plugins == nil {
		c.Plugins = plugins.Default
	}
	def(&c.ExactlyOnceSourceSupport, "disabled")
	return c
}

func (c Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http address %q: %w", c.HTTPAddr, err))
	}
	if c.ConfigTopic == c.OffsetTopic || c.ConfigTopic == c.StatusTopic || c.OffsetTopic == c.StatusTopic {
		errs = append(errs, fmt.Errorf("config, offset and status topics must differ (%s, %s, %s)", c.ConfigTopic, c.OffsetTopic, c.StatusTopic))
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		errs = append(errs, fmt.Errorf("heartbeat interval %s must be below the session timeout %s", c.HeartbeatInterval, c.SessionTimeout))
	}
	if _, err := compileEnvAllowlist(c.EnvAllowlistPattern); err != nil {
		errs = append(errs, err)
	}
	switch c.ExactlyOnceSourceSupport {
	case "disabled", "enabled", "preparing":
	default:
		errs = append(errs, fmt.Errorf("exactly.once.source.support %q: want enabled, preparing or disabled", c.ExactlyOnceSourceSupport))
	}
	return errors.Join(errs...)
}

// distributed reports whether the worker joins a Connect cluster.
func (c Config) distributed() bool { return c.GroupID != "" }

// compileEnvAllowlist compiles EnvAllowlistPattern, anchored as Java's
// Pattern.matches is; nil when it is empty (no variable allowed).
func compileEnvAllowlist(p string) (*regexp.Regexp, error) {
	if strings.TrimSpace(p) == "" {
		return nil, nil
	}
	re, err := regexp.Compile("^(?:" + p + ")$")
	if err != nil {
		return nil, fmt.Errorf("env allowlist pattern %q: %w", p, err)
	}
	return re, nil
}
