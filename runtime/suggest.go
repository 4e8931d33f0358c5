package runtime

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/weirlog/weir/plugins"
)

// Closest returns the candidate nearest to s by edit distance (ignoring
// case, '.', '-' and '_', so tasksMax matches tasks.max), or "" when none
// is near enough to be a plausible typo. It is how weir's errors and
// warnings say "did you mean …".
func Closest(s string, candidates []string) string {
	ns := normKey(s)
	best, bestD := "", 0
	for _, c := range candidates {
		if c == s {
			continue
		}
		d := editDistance(ns, normKey(c))
		if best == "" || d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	// A typo changes a few characters; more than a third of the word is a
	// different word.
	limit := max(1, min(3, (len(ns)+2)/3))
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

// didYouMean renders Closest as a message suffix.
func didYouMean(s string, candidates []string) string {
	if c := Closest(s, candidates); c != "" {
		return ` (did you mean "` + c + `"?)`
	}
	return ""
}

func normKey(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '.', '-', '_':
			return -1
		}
		if 'A' <= r && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}, s)
}

// editDistance is the Levenshtein distance with adjacent transpositions
// counted as one edit (optimal string alignment).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// UnknownKey is a connector config key that nothing declares: not the
// runtime, the connector, its transforms and predicates.
type UnknownKey struct {
	Key        string
	Suggestion string // the nearest declared key, or ""
}

func (u UnknownKey) String() string {
	s := "unknown config key " + strconv.Quote(u.Key)
	if u.Suggestion != "" {
		s += ` (did you mean "` + u.Suggestion + `"?)`
	}
	return s + "; it is passed to the connector, which ignores keys it does not know"
}

// freeFormPrefixes are key prefixes handed to components that declare no
// keys here (client overrides, converter settings, topic creation).
var freeFormPrefixes = []string{
	cfgProducerOverride, cfgConsumerOverride, "admin.override.",
	cfgKeyConverter + ".", cfgValueConverter + ".", cfgHeaderConverter + ".",
	"topic.creation.",
}

// Keys Kafka's ConnectorConfig knows that weir reads without declaring.
var undeclaredKnownKeys = []string{cfgConfigActionReset}

// UnknownConfigKeys returns the keys of cfg outside known (the names a
// validation lists) and the free-form prefixes, sorted, each with the
// nearest known key. Connect accepts such keys and only logs them; weir
// reports them because they are nearly always typos.
func UnknownConfigKeys(cfg map[string]string, known []string) []UnknownKey {
	all := append(slices.Clone(known), undeclaredKnownKeys...)
	var out []UnknownKey
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		if slices.Contains(all, k) || slices.ContainsFunc(freeFormPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		out = append(out, UnknownKey{Key: k, Suggestion: Closest(k, all)})
	}
	return out
}

// UnknownKeys is UnknownConfigKeys against what this worker's plugins
// declare for cfg's connector class (nil when the class is unknown: that
// is an error validation reports).
func (w *Worker) UnknownKeys(cfg map[string]string) []UnknownKey {
	def := w.connectorDef(cfg)
	if def == nil {
		return nil
	}
	var known []string
	for _, k := range def.Keys() {
		known = append(known, k.Name)
	}
	return UnknownConfigKeys(cfg, known)
}

// connectorDef is everything a connector config declares: the runtime's
// keys, the plugin's, and those of its transforms and predicates (nil when
// the class is not a connector of this worker).
func (w *Worker) connectorDef(cfg map[string]string) *plugins.ConfigDef {
	reg, ok := w.cfg.Plugins.Lookup(strings.TrimSpace(cfg[cfgClass]))
	if !ok || (reg.Type != plugins.PluginSource && reg.Type != plugins.PluginSink) {
		return nil
	}
	conn, _, err := w.cfg.Plugins.NewConnector(reg.Class)
	if err != nil {
		return nil
	}
	base := sourceConfigDef()
	if reg.Type == plugins.PluginSink {
		base = sinkConfigDef()
	}
	return plugins.EnrichConfigDef(w.cfg.Plugins, base.Merge(conn.ConfigDef()), plugins.Config(cfg))
}
