package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/pflag"

	// Built-in connectors register themselves with the plugin registry.
	_ "github.com/weirlog/weir/connectors/datagen"
	_ "github.com/weirlog/weir/connectors/file"
	_ "github.com/weirlog/weir/connectors/jdbc"
	_ "github.com/weirlog/weir/connectors/stomp"
	"github.com/weirlog/weir/runtime"
)

// The connector runtime runs inside `weir serve` as a Kafka client of the
// broker beside it, exactly as it would against any other Kafka cluster.
var serveConnect struct {
	disabled      bool
	connectorsDir string
	groupID       string
	rebalanceWait time.Duration
	bootstrap     string
	flushInterval time.Duration
}

var _ = addServeFlags(func(f *pflag.FlagSet) {
	f.BoolVar(&serveConnect.disabled, "no-connect", false, "do not run the connector runtime (REST API on --http-addr)")
	f.StringVar(&serveConnect.connectorsDir, "connectors", "", "directory of connector YAML (Strimzi KafkaConnector) or JSON files applied at start")
	f.StringVar(&serveConnect.groupID, "connect-group-id", "", "join a distributed Connect cluster with this group id (empty: standalone worker)")
	f.DurationVar(&serveConnect.rebalanceWait, "connect-rebalance-delay", 3*time.Second, "how long a departed worker's tasks wait before moving (scheduled.rebalance.max.delay.ms)")
	f.StringVar(&serveConnect.bootstrap, "connect-bootstrap-servers", "", "Kafka cluster the connector runtime uses, host:port,... (bootstrap.servers; default: this node's broker)")
	f.DurationVar(&serveConnect.flushInterval, "connect-offset-flush-interval", 5*time.Second, "how often tasks commit their offsets (offset.flush.interval.ms)")
})

func init() {
	registerServeExtension(func(ctx context.Context, env serveEnv) (http.Handler, func(context.Context) error, error) {
		if serveConnect.disabled {
			return nil, nil, nil
		}
		bootstrap := []string{env.KafkaAddr}
		if serveConnect.bootstrap != "" {
			bootstrap = strings.Split(serveConnect.bootstrap, ",")
		}
		w, err := runtime.New(runtime.Config{
			BootstrapServers:           bootstrap,
			OffsetFlushInterval:        serveConnect.flushInterval,
			GroupID:                    serveConnect.groupID,
			HTTPAddr:                   env.HTTPAddr,
			Registerer:                 env.Registerer,
			ScheduledRebalanceMaxDelay: serveConnect.rebalanceWait,
		}, env.Logger)
		if err != nil {
			return nil, nil, fmt.Errorf("connector runtime: %w", err)
		}
		if err := w.Start(ctx); err != nil {
			w.Close()
			return nil, nil, fmt.Errorf("start connector runtime: %w", err)
		}
		if dir := serveConnect.connectorsDir; dir != "" {
			if err := w.ApplyDir(dir); err != nil {
				w.Close()
				return nil, nil, fmt.Errorf("apply connectors from %s: %w", dir, err)
			}
		}
		env.Checks.add(serveCheck{name: "connect",
			health: func() error { return runtimeCheck(w.Health()) },
			ready:  func() error { return runtimeCheck(w.Ready()) }})
		stop := func(context.Context) error { return w.Close() }
		return w.Handler(), stop, nil
	})
}

// runtimeCheck maps the worker's "still starting" to serve's.
func runtimeCheck(err error) error {
	if errors.Is(err, runtime.ErrStarting) {
		return fmt.Errorf("%w: %v", errServeStarting, err)
	}
	return err
}
