package runtime

// Every worker offers Kafka Connect's standard converters, single message
// transforms and predicates, as Kafka Connect's own classpath does.
import _ "github.com/weirlog/weir/plugins/builtin"
