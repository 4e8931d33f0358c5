package main

// Shared plumbing for the client-side commands (topic, produce, consume,
// group, bench): the --bootstrap-server flag, client construction, error
// messages that say what to do next, and aligned table output.
//
// Every command is built by a constructor (newTopicCmd, ...) that owns its
// flag values, so tests can build a fresh command tree per invocation
// instead of inheriting flag state from a previous run.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	defaultBootstrap = "127.0.0.1:9092"
	envBootstrap     = "WEIR_BOOTSTRAP_SERVER"
)

// clusterOpts are the connection flags shared by every client command.
type clusterOpts struct {
	bootstrap string
	timeout   time.Duration
}

func (o *clusterOpts) register(cmd *cobra.Command) {
	def := os.Getenv(envBootstrap)
	if def == "" {
		def = defaultBootstrap
	}
	cmd.PersistentFlags().StringVarP(&o.bootstrap, "bootstrap-server", "b", def,
		"comma-separated host:port list of brokers (env "+envBootstrap+")")
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", 30*time.Second,
		"how long a single admin request may take before giving up")
}

func (o *clusterOpts) seeds() []string {
	var out []string
	for _, s := range strings.Split(o.bootstrap, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// newClient checks that at least one seed broker accepts a TCP connection
// (kgo would otherwise retry a refused dial until the request times out,
// which looks like a hang to a person at a terminal) and returns a client.
func (o *clusterOpts) newClient(ctx context.Context, extra ...kgo.Opt) (*kgo.Client, error) {
	seeds := o.seeds()
	if len(seeds) == 0 {
		return nil, errors.New("--bootstrap-server is empty: give at least one host:port")
	}
	if err := probeSeeds(ctx, seeds); err != nil {
		return nil, err
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("weir-cli"),
		kgo.DialTimeout(5 * time.Second),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return cl, nil
}

// newAdmin returns an admin client and its underlying kgo client; closing
// the admin client closes both.
func (o *clusterOpts) newAdmin(ctx context.Context) (*kadm.Client, error) {
	cl, err := o.newClient(ctx)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(o.timeout / time.Millisecond))
	return adm, nil
}

// admin opens an admin client and a context bounded by --timeout, the
// preamble of every admin subcommand; done releases both.
func (o *clusterOpts) admin(ctx context.Context) (adm *kadm.Client, opCtx context.Context, done func(), err error) {
	adm, err = o.newAdmin(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	opCtx, cancel := o.withTimeout(ctx)
	return adm, opCtx, func() { cancel(); adm.Close() }, nil
}

// withTimeout bounds a single admin round trip by --timeout.
func (o *clusterOpts) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.timeout)
}

func probeSeeds(ctx context.Context, seeds []string) error {
	var lastErr error
	d := net.Dialer{Timeout: 3 * time.Second}
	for _, s := range seeds {
		c, err := d.DialContext(ctx, "tcp", s)
		if err == nil {
			c.Close()
			return nil
		}
		lastErr = err
	}
	return unreachable(strings.Join(seeds, ","), lastErr)
}

func unreachable(addr string, err error) error {
	hint := "is `weir serve` running? Point elsewhere with --bootstrap-server or " + envBootstrap
	return fmt.Errorf("cannot reach %s: %s (%w)", addr, hint, err)
}

// explain turns the errors people hit most often into a sentence that says
// what to do next; anything else is returned wrapped with what was being done.
func explain(what string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, kerr.TopicAlreadyExists):
		return fmt.Errorf("%s: topic already exists (change it with `weir topic alter`, or pass --if-not-exists)", what)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return fmt.Errorf("%s: no such topic (see `weir topic list`, or create it with `weir topic create`)", what)
	case errors.Is(err, kerr.GroupIDNotFound):
		return fmt.Errorf("%s: no such group (see `weir group list`)", what)
	case errors.Is(err, kerr.NonEmptyGroup):
		return fmt.Errorf("%s: the group still has active members; stop its consumers first", what)
	case errors.Is(err, kerr.InvalidReplicationFactor):
		return fmt.Errorf("%s: replication factor larger than the number of brokers (lower --replication-factor)", what)
	case errors.Is(err, kerr.InvalidPartitions):
		return fmt.Errorf("%s: invalid partition count: %w", what, err)
	case errors.Is(err, kerr.InvalidConfig):
		return fmt.Errorf("%s: the broker rejected a --config entry: %w", what, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out (raise --timeout, or check the broker's log): %w", what, err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%s: connection refused: is `weir serve` running? (%w)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// kerrMessage appends a broker-supplied error message, if any.
func kerrMessage(err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// table writes aligned columns; call flush when done.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(toAny(header)...)
	}
	return t
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func (t *table) row(cols ...any) {
	for i, c := range cols {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprint(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// parseKVs parses repeated k=v flags. Values may contain '='.
func parseKVs(flag string, kvs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flag, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

// parseTime accepts RFC 3339 (2026-01-02T15:04:05Z), a bare date-time in
// UTC (2026-01-02T15:04:05) or Unix milliseconds.
func parseTime(s string) (time.Time, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2026-01-02T15:04:05Z) or Unix milliseconds", s)
}

func joinInt32s(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

// stderrf prints progress and notes; data goes to stdout only.
func stderrf(cmd *cobra.Command, format string, args ...any) {
	fmt.Fprintf(cmd.ErrOrStderr(), format, args...)
}

// newAdminFrom wraps an existing client; do not Close the result (that
// would close cl).
func newAdminFrom(cl *kgo.Client) *kadm.Client { return kadm.NewClient(cl) }

// interruptible makes the command's context end on the first SIGINT or
// SIGTERM, so long-running commands can stop cleanly (leave their group,
// flush output, print a summary); a second signal kills as usual.
func interruptible(cmd *cobra.Command) (stop func()) {
	ctx, cancel := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		cancel() // restore default handling for the next signal
	}()
	cmd.SetContext(ctx)
	return cancel
}
