package plugins

import (
	"fmt"
	"maps"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins/internal/javafmt"
)

// ValueString renders Connect data the way Java's toString does for the
// matching Kafka types (floats as Double.toString, Struct{a=1}, lists
// [a, b], maps {k=v}); []byte is taken as UTF-8 text.
func ValueString(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return x
	case []byte:
		return string(x)
	case float32:
		return javafmt.Float(float64(x), 32)
	case float64:
		return javafmt.Float(x, 64)
	case int8:
		return strconv.FormatInt(int64(x), 10)
	case int16:
		return strconv.FormatInt(int64(x), 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case *big.Rat:
		return x.FloatString(ratScale(x))
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case *Struct:
		var b strings.Builder
		b.WriteString("Struct{")
		first := true
		for i, f := range x.schema.Fields {
			if x.values[i] == nil {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(f.Name + "=" + ValueString(x.values[i]))
		}
		b.WriteByte('}')
		return b.String()
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = ValueString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := sortedKeys(x)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + ValueString(x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}

// ratScale returns the number of fractional digits needed to print r
// exactly (capped; non-terminating fractions print with 18 digits).
func ratScale(r *big.Rat) int {
	for s := 0; s <= 18; s++ {
		if _, err := unscaled(r, s); err == nil {
			return s
		}
	}
	return 18
}

// SinkTaskConfigs is what almost every sink connector's TaskConfigs
// returns: max(maxTasks, 1) copies of its configuration, since the
// consumer group, not the connector, spreads the partitions over tasks.
func SinkTaskConfigs(cfg Config, maxTasks int) []Config {
	out := make([]Config, max(maxTasks, 1))
	for i := range out {
		out[i] = maps.Clone(cfg)
	}
	return out
}
