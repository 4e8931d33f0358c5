package runtime

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Connector-level configuration keys, shared by every connector and
// interpreted by the runtime (Kafka Connect's ConnectorConfig,
// SinkConnectorConfig and SourceConnectorConfig).
const (
	cfgName              = "name"
	cfgClass             = "connector.class"
	cfgTasksMax          = "tasks.max"
	cfgTaskClass         = "task.class"
	cfgKeyConverter      = "key.converter"
	cfgValueConverter    = "value.converter"
	cfgHeaderConverter   = "header.converter"
	cfgTransforms        = "transforms"
	cfgPredicates        = "predicates"
	cfgTopics            = "topics"
	cfgTopicsRegex       = "topics.regex"
	cfgRetryTimeout      = "errors.retry.timeout"
	cfgRetryDelayMax     = "errors.retry.delay.max.ms"
	cfgTolerance         = "errors.tolerance"
	cfgLogEnable         = "errors.log.enable"
	cfgLogMessages       = "errors.log.include.messages"
	cfgDLQTopic          = "errors.deadletterqueue.topic.name"
	cfgDLQReplication    = "errors.deadletterqueue.topic.replication.factor"
	cfgDLQHeaders        = "errors.deadletterqueue.context.headers.enable"
	cfgExactlyOnce       = "exactly.once.support"
	cfgTransactionBound  = "transaction.boundary"
	cfgAutoRestart       = "auto.restart.enabled"
	cfgAutoRestartMax    = "auto.restart.max.restarts"
	cfgOffsetsTopic      = "offsets.storage.topic"
	cfgConsumerOverride  = "consumer.override."
	cfgProducerOverride  = "producer.override."
	cfgConfigActionReset = "config.action.reload"
)

func commonConfigDef() *plugins.ConfigDef {
	d := plugins.NewConfigDef()
	g := "Common"
	d.Define(plugins.ConfigKey{Name: cfgName, Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High, Group: g, OrderInGroup: 1, Width: plugins.WidthMedium, DisplayName: "Connector name",
		Documentation: "Globally unique name to use for this connector.", Validator: plugins.NonEmptyString()})
	d.Define(plugins.ConfigKey{Name: cfgClass, Type: plugins.ConfigString, Default: plugins.NoDefault, Importance: plugins.High, Group: g, OrderInGroup: 2, Width: plugins.WidthLong, DisplayName: "Connector class",
		Documentation: "Name or alias of the class for this connector."})
	d.Define(plugins.ConfigKey{Name: cfgTasksMax, Type: plugins.ConfigInt, Default: "1", Importance: plugins.High, Group: g, OrderInGroup: 3, Width: plugins.WidthShort, DisplayName: "Tasks max",
		Documentation: "Maximum number of tasks to use for this connector.", Validator: plugins.AtLeast(1)})
	d.Define(plugins.ConfigKey{Name: cfgKeyConverter, Type: plugins.ConfigClass, Default: nil, Importance: plugins.Low, Group: g, OrderInGroup: 4, Width: plugins.WidthShort, DisplayName: "Key converter class",
		Documentation: "Converter class used to convert between Kafka Connect format and the serialized form written to Kafka (keys). Defaults to the worker's."})
	d.Define(plugins.ConfigKey{Name: cfgValueConverter, Type: plugins.ConfigClass, Default: nil, Importance: plugins.Low, Group: g, OrderInGroup: 5, Width: plugins.WidthShort, DisplayName: "Value converter class",
		Documentation: "Converter class used for values. Defaults to the worker's."})
	d.Define(plugins.ConfigKey{Name: cfgHeaderConverter, Type: plugins.ConfigClass, Default: nil, Importance: plugins.Low, Group: g, OrderInGroup: 6, Width: plugins.WidthShort, DisplayName: "Header converter class",
		Documentation: "HeaderConverter class used for header values. Defaults to the worker's."})
	d.Define(plugins.TransformsConfigKey)
	d.Define(plugins.PredicatesConfigKey)
	eg := "Error Handling"
	d.Define(plugins.ConfigKey{Name: cfgRetryTimeout, Type: plugins.ConfigLong, Default: "0", Importance: plugins.Medium, Group: eg, OrderInGroup: 1, Width: plugins.WidthMedium, DisplayName: "Retry Timeout for Errors",
		Documentation: "The maximum duration in milliseconds that a failed operation will be reattempted. The default is 0, which means no retries will be attempted. Use -1 for infinite retries."})
	d.Define(plugins.ConfigKey{Name: cfgRetryDelayMax, Type: plugins.ConfigLong, Default: "60000", Importance: plugins.Medium, Group: eg, OrderInGroup: 2, Width: plugins.WidthMedium, DisplayName: "Maximum Delay Between Retries for Errors",
		Documentation: "The maximum duration in milliseconds between consecutive retry attempts.", Validator: plugins.AtLeast(1)})
	d.Define(plugins.ConfigKey{Name: cfgTolerance, Type: plugins.ConfigString, Default: "none", Importance: plugins.Medium, Group: eg, OrderInGroup: 3, Width: plugins.WidthShort, DisplayName: "Error Tolerance",
		Documentation: "Behavior for tolerating errors during connector operation. 'none' is the default value and signals that any error will result in an immediate connector task failure; 'all' changes the behavior to skip over problematic records.",
		Validator:     plugins.OneOfIgnoreCase("none", "all")})
	d.Define(plugins.ConfigKey{Name: cfgLogEnable, Type: plugins.ConfigBoolean, Default: "false", Importance: plugins.Medium, Group: eg, OrderInGroup: 4, Width: plugins.WidthShort, DisplayName: "Log Errors",
		Documentation: "If true, write each error and the details of the failed operation and problematic record to the Connect application log."})
	d.Define(plugins.ConfigKey{Name: cfgLogMessages, Type: plugins.ConfigBoolean, Default: "false", Importance: plugins.Medium, Group: eg, OrderInGroup: 5, Width: plugins.WidthShort, DisplayName: "Log Error Details",
		Documentation: "Whether to include in the log the Connect record that resulted in a failure."})
	d.Define(plugins.ConfigKey{Name: cfgDLQTopic, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium, Group: eg, OrderInGroup: 6, Width: plugins.WidthMedium, DisplayName: "Dead Letter Queue Topic Name",
		Documentation: "The name of the topic to be used as the dead letter queue (DLQ) for records that fail in conversion, transformation or the task (sinks; weir also routes source-side conversion and transformation failures there)."})
	d.Define(plugins.ConfigKey{Name: cfgDLQReplication, Type: plugins.ConfigShort, Default: "-1", Importance: plugins.Medium, Group: eg, OrderInGroup: 7, Width: plugins.WidthMedium, DisplayName: "Dead Letter Queue Topic Replication Factor",
		Documentation: "Replication factor used to create the dead letter queue topic when it doesn't already exist (-1: the broker's default)."})
	d.Define(plugins.ConfigKey{Name: cfgDLQHeaders, Type: plugins.ConfigBoolean, Default: "false", Importance: plugins.Medium, Group: eg, OrderInGroup: 8, Width: plugins.WidthMedium, DisplayName: "Enable Error Context Headers",
		Documentation: "If true, add headers containing error context to the messages written to the dead letter queue."})
	d.Define(plugins.ConfigKey{Name: cfgAutoRestart, Type: plugins.ConfigBoolean, Default: "true", Importance: plugins.Low, Group: eg, OrderInGroup: 9, Width: plugins.WidthShort, DisplayName: "Automatic restart",
		Documentation: "Restart a failed connector or task automatically with exponential backoff (Strimzi's spec.autoRestart.enabled)."})
	d.Define(plugins.ConfigKey{Name: cfgAutoRestartMax, Type: plugins.ConfigInt, Default: "-1", Importance: plugins.Low, Group: eg, OrderInGroup: 10, Width: plugins.WidthShort, DisplayName: "Maximum automatic restarts",
		Documentation: "How many automatic restarts in a row before giving up (-1: unlimited; Strimzi's spec.autoRestart.maxRestarts)."})
	return d
}

func sinkConfigDef() *plugins.ConfigDef {
	d := plugins.NewConfigDef()
	d.Define(plugins.ConfigKey{Name: cfgTopics, Type: plugins.ConfigList, Default: "", Importance: plugins.High, Group: "Common", OrderInGroup: 4, Width: plugins.WidthLong, DisplayName: "Topics",
		Documentation: "List of topics to consume, separated by commas"})
	d.Define(plugins.ConfigKey{Name: cfgTopicsRegex, Type: plugins.ConfigString, Default: "", Importance: plugins.High, Group: "Common", OrderInGroup: 4, Width: plugins.WidthLong, DisplayName: "Topics regex",
		Documentation: "Regular expression giving topics to consume."})
	return commonConfigDef().Merge(d)
}

func sourceConfigDef() *plugins.ConfigDef {
	d := plugins.NewConfigDef()
	d.Define(plugins.ConfigKey{Name: cfgExactlyOnce, Type: plugins.ConfigString, Default: "requested", Importance: plugins.Medium, Group: "Exactly Once Support", OrderInGroup: 1, Width: plugins.WidthShort, DisplayName: "Exactly once support",
		Documentation: "Permitted values are requested, required.", Validator: plugins.OneOfIgnoreCase("requested", "required")})
	d.Define(plugins.ConfigKey{Name: cfgTransactionBound, Type: plugins.ConfigString, Default: "poll", Importance: plugins.Medium, Group: "Exactly Once Support", OrderInGroup: 2, Width: plugins.WidthShort, DisplayName: "Transaction Boundary",
		Documentation: "Permitted values are poll, interval, connector.", Validator: plugins.OneOfIgnoreCase("poll", "interval", "connector")})
	d.Define(plugins.ConfigKey{Name: cfgOffsetsTopic, Type: plugins.ConfigString, Default: nil, Importance: plugins.Low, Group: "Offsets Topic", OrderInGroup: 1, Width: plugins.WidthLong, DisplayName: "Offsets topic",
		Documentation: "The name of a separate offsets topic to use for this connector (not supported by weir yet: the worker's topic is used)."})
	return commonConfigDef().Merge(d)
}

// connectorConfig is the runtime's typed view of a connector's config.
type connectorConfig struct {
	name          string
	class         string
	tasksMax      int
	topics        []string
	topicsRegex   *regexp.Regexp
	retryTimeout  time.Duration // <0: forever
	retryDelayMax time.Duration
	tolerateAll   bool
	logErrors     bool
	logMessages   bool
	dlqTopic      string
	dlqRF         int16
	dlqHeaders    bool
	autoRestart   bool
	maxRestarts   int
}

func parseConnectorConfig(cfg map[string]string) (*connectorConfig, error) {
	c := &connectorConfig{name: cfg[cfgName], class: cfg[cfgClass], tasksMax: 1, retryDelayMax: time.Minute, autoRestart: true, maxRestarts: -1, dlqRF: -1}
	var errs []string
	num := func(k string, dst *int64) {
		if v, ok := cfg[k]; ok && strings.TrimSpace(v) != "" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Not a number of type LONG", v, k))
				return
			}
			*dst = n
		}
	}
	boolean := func(k string, dst *bool) {
		if v, ok := cfg[k]; ok && strings.TrimSpace(v) != "" {
			b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(v)))
			if err != nil {
				errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: Expected value to be either true or false", v, k))
				return
			}
			*dst = b
		}
	}
	tm := int64(1)
	num(cfgTasksMax, &tm)
	if tm < 1 {
		errs = append(errs, fmt.Sprintf("Invalid value %d for configuration %s: Value must be at least 1", tm, cfgTasksMax))
	}
	c.tasksMax = int(tm)
	rt := int64(0)
	num(cfgRetryTimeout, &rt)
	if rt < 0 {
		c.retryTimeout = -1
	} else {
		c.retryTimeout = time.Duration(rt) * time.Millisecond
	}
	rd := int64(60000)
	num(cfgRetryDelayMax, &rd)
	c.retryDelayMax = time.Duration(rd) * time.Millisecond
	switch strings.ToLower(strings.TrimSpace(cfg[cfgTolerance])) {
	case "", "none":
	case "all":
		c.tolerateAll = true
	default:
		errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: String must be one of: none, all", cfg[cfgTolerance], cfgTolerance))
	}
	boolean(cfgLogEnable, &c.logErrors)
	boolean(cfgLogMessages, &c.logMessages)
	boolean(cfgDLQHeaders, &c.dlqHeaders)
	boolean(cfgAutoRestart, &c.autoRestart)
	c.dlqTopic = strings.TrimSpace(cfg[cfgDLQTopic])
	rf := int64(-1)
	num(cfgDLQReplication, &rf)
	c.dlqRF = int16(rf)
	mr := int64(-1)
	num(cfgAutoRestartMax, &mr)
	c.maxRestarts = int(mr)
	for _, t := range strings.Split(cfg[cfgTopics], ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.topics = append(c.topics, t)
		}
	}
	if re := strings.TrimSpace(cfg[cfgTopicsRegex]); re != "" {
		r, err := regexp.Compile(re)
		if err != nil {
			errs = append(errs, fmt.Sprintf("Invalid value %s for configuration %s: %v", re, cfgTopicsRegex, err))
		}
		c.topicsRegex = r
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c, nil
}
