package runtime

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/weirlog/weir/plugins"
)

// Config providers (KIP-297): ${env:NAME} and ${file:path:key} in connector
// configs. The stored config keeps the placeholder; the value is resolved
// when a connector or task starts, and every resolved value is remembered so
// that it can be masked wherever it might leak (REST bodies, status traces,
// log lines).

// Kafka's ConfigTransformer pattern: ${provider:[path:]key}.
var placeholderRE = regexp.MustCompile(`\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}`)

const hidden = "[hidden]"

type secrets struct {
	mu     sync.RWMutex
	values map[string]bool
	sorted []string // longest first, so a secret containing another is masked whole
}

func newSecrets() *secrets { return &secrets{values: map[string]bool{}} }

// providerPolicy says where config providers may be used: a reference in
// any key would let a REST caller read a secret through a value that is
// shown (a topic name is visible to every Metadata request), so only keys
// that hold secrets may resolve them, and ${env:…} only names the
// environment variables the worker lets through (Kafka's
// EnvVarConfigProvider allowlist.pattern).
type providerPolicy struct {
	keyAllowed func(key string) bool   // nil: every key
	envAllowed func(name string) bool  // nil: every variable
	describe   func(key string) string // why a key is refused
}

// resolve returns cfg with every placeholder replaced. A placeholder the
// policy refuses, or one that cannot be resolved, stays as written and
// the first such problem is returned.
func (s *secrets) resolve(cfg map[string]string, pol providerPolicy) (map[string]string, error) {
	out := make(map[string]string, len(cfg))
	var firstErr error
	for _, k := range slices.Sorted(maps.Keys(cfg)) { // the same first error every time
		v := cfg[k]
		if pol.keyAllowed != nil && placeholderRE.MatchString(v) && !pol.keyAllowed(k) {
			if firstErr == nil {
				firstErr = fmt.Errorf("config %s: %s", k, pol.describe(k))
			}
			out[k] = v
			continue
		}
		out[k] = placeholderRE.ReplaceAllStringFunc(v, func(m string) string {
			sub := placeholderRE.FindStringSubmatch(m)
			if sub[1] == "env" && pol.envAllowed != nil && !pol.envAllowed(sub[3]) {
				if firstErr == nil {
					firstErr = fmt.Errorf("config %s: ${env:%s}: the worker's allowlist pattern for environment variables does not match %s (set it with weir serve --connect-env-allowlist-pattern, Kafka's config.providers.env.param.allowlist.pattern)", k, sub[3], sub[3])
				}
				return m
			}
			val, err := lookupSecret(sub[1], sub[2], sub[3])
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("config %s: %w", k, err)
				}
				return m
			}
			s.remember(val)
			return val
		})
	}
	return out, firstErr
}

func lookupSecret(provider, path, key string) (string, error) {
	switch provider {
	case "env":
		v, ok := os.LookupEnv(key)
		if !ok {
			return "", fmt.Errorf("${env:%s}: environment variable not set", key)
		}
		return v, nil
	case "file":
		if path == "" {
			return "", fmt.Errorf("${file:%s}: want ${file:path:key}", key)
		}
		return propertiesValue(path, key)
	}
	return "", fmt.Errorf("unknown config provider %q (weir knows env and file)", provider)
}

// secretSuffixes are the keys of Kafka clients and converters that hold
// secrets (their ConfigDefs declare them PASSWORD); under a free-form
// prefix (producer.override., value.converter., …) they may use providers.
var secretSuffixes = []string{
	"sasl.jaas.config", "ssl.key.password", "ssl.keystore.password", "ssl.truststore.password",
	"ssl.keystore.key", "ssl.keystore.certificate.chain", "ssl.truststore.certificates",
	"sasl.oauthbearer.client.secret", "basic.auth.user.info", "bearer.auth.token",
}

// providerPolicy is the worker's policy for a connector whose declared
// keys are def.
func (w *Worker) providerPolicy(def *plugins.ConfigDef) providerPolicy {
	return providerPolicy{
		keyAllowed: func(k string) bool {
			if def != nil {
				if ck, ok := def.Key(k); ok && ck.Type == plugins.ConfigPassword {
					return true
				}
			}
			if slices.Contains(w.cfg.ConfigProviderKeys, k) {
				return true
			}
			for _, p := range freeFormPrefixes {
				if rest, ok := strings.CutPrefix(k, p); ok && slices.Contains(secretSuffixes, rest) {
					return true
				}
			}
			return false
		},
		envAllowed: func(name string) bool { return w.envAllow != nil && w.envAllow.MatchString(name) },
		describe: func(k string) string {
			return fmt.Sprintf("config provider references (${env:…}, ${file:…}) are resolved only in keys the connector declares as PASSWORD, or in the worker's allowlist (weir serve --connect-config-provider-keys); %s is neither", k)
		},
	}
}

// propertiesValue reads key from a Java properties file (key=value or
// key: value; # and ! comments).
func propertiesValue(path, key string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("${file:%s:%s}: %w", path, key, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		if strings.TrimSpace(line[:i]) == key {
			return strings.TrimSpace(line[i+1:]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("${file:%s:%s}: %w", path, key, err)
	}
	return "", fmt.Errorf("${file:%s:%s}: no such key in the file", path, key)
}

func (s *secrets) remember(v string) {
	if len(v) < 3 { // masking "1" or "ab" would garble every log line
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.values[v] {
		return
	}
	s.values[v] = true
	s.sorted = append(s.sorted, v)
	sort.Slice(s.sorted, func(i, j int) bool { return len(s.sorted[i]) > len(s.sorted[j]) })
}

// mask replaces every known secret in str.
func (s *secrets) mask(str string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, v := range s.sorted {
		if strings.Contains(str, v) {
			str = strings.ReplaceAll(str, v, hidden)
		}
	}
	return str
}

// reverse puts placeholders back into task configs the connector derived
// from a resolved config (Kafka's ConnectorConfig reverse transform): a task
// value equal to a resolved value whose raw form held a placeholder is
// stored as the placeholder, so secrets never reach the config topic.
func reverseSecrets(raw map[string]string, resolved map[string]string, tasks []map[string]string) {
	for k, rv := range raw {
		if !placeholderRE.MatchString(rv) {
			continue
		}
		for _, t := range tasks {
			if v, ok := t[k]; ok && v == resolved[k] {
				t[k] = rv
			}
		}
	}
}

// maskingHandler redacts secrets from a slog record's message and string
// attributes before passing it on.
type maskingHandler struct {
	h slog.Handler
	s *secrets
}

func (m maskingHandler) Enabled(ctx context.Context, l slog.Level) bool { return m.h.Enabled(ctx, l) }

func (m maskingHandler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, m.s.mask(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(m.maskAttr(a))
		return true
	})
	return m.h.Handle(ctx, nr)
}

func (m maskingHandler) maskAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, m.s.mask(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, x := range as {
			out[i] = m.maskAttr(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, m.s.mask(err.Error()))
		}
		return slog.String(a.Key, m.s.mask(fmt.Sprint(v.Any())))
	}
	return a
}

func (m maskingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = m.maskAttr(a)
	}
	return maskingHandler{h: m.h.WithAttrs(out), s: m.s}
}

func (m maskingHandler) WithGroup(name string) slog.Handler {
	return maskingHandler{h: m.h.WithGroup(name), s: m.s}
}

// levelHandler applies the level set through /admin/loggers on top of the
// handler's own.
type levelHandler struct {
	h  slog.Handler
	lv *slog.LevelVar
}

func (l levelHandler) Enabled(ctx context.Context, lvl slog.Level) bool {
	return lvl >= l.lv.Level() && l.h.Enabled(ctx, lvl)
}
func (l levelHandler) Handle(ctx context.Context, r slog.Record) error { return l.h.Handle(ctx, r) }
func (l levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h: l.h.WithAttrs(as), lv: l.lv}
}
func (l levelHandler) WithGroup(n string) slog.Handler {
	return levelHandler{h: l.h.WithGroup(n), lv: l.lv}
}
