package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	// Built-in connectors register themselves with the plugin registry.
	_ "github.com/weirlog/weir/connectors/datagen"
	_ "github.com/weirlog/weir/connectors/elasticsearch"
	"github.com/weirlog/weir/connectors/file"
	_ "github.com/weirlog/weir/connectors/hdfs"
	_ "github.com/weirlog/weir/connectors/jdbc"
	_ "github.com/weirlog/weir/connectors/s3"
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
	fileDirs      string
	providerKeys  string
	envAllowlist  string
}

var _ = addServeFlags(func(f *pflag.FlagSet) {
	f.BoolVar(&serveConnect.disabled, "no-connect", false, "do not run the connector runtime (REST API on --http-addr)")
	f.StringVar(&serveConnect.connectorsDir, "connectors", "", "directory of connector YAML (Strimzi KafkaConnector) or JSON files applied at start")
	f.StringVar(&serveConnect.groupID, "connect-group-id", "", "join a distributed Connect cluster with this group id (empty: standalone worker)")
	f.DurationVar(&serveConnect.rebalanceWait, "connect-rebalance-delay", 3*time.Second, "how long a departed worker's tasks wait before moving (scheduled.rebalance.max.delay.ms)")
	f.StringVar(&serveConnect.bootstrap, "connect-bootstrap-servers", "", "Kafka cluster the connector runtime uses, host:port,... (bootstrap.servers; default: this node's broker)")
	f.DurationVar(&serveConnect.flushInterval, "connect-offset-flush-interval", 5*time.Second, "how often tasks commit their offsets (offset.flush.interval.ms)")
	// The default is stated, not set, so that an unset flag also honours
	// the variable the file package reads for processes without flags.
	f.StringVar(&serveConnect.providerKeys, "connect-config-provider-keys", "", "comma-separated connector config keys that may hold ${env:…}/${file:…} references besides those a plugin declares PASSWORD")
	f.StringVar(&serveConnect.envAllowlist, "connect-env-allowlist-pattern", "", "regular expression the whole name of an environment variable must match for ${env:NAME} to resolve it (Kafka's EnvVarConfigProvider allowlist.pattern); empty: none")
	f.StringVar(&serveConnect.fileDirs, strings.TrimPrefix(file.AllowedDirsSetting, "--"), "",
		"comma-separated directories FileStream connectors may read and write; any other file is refused with 400 (default: ./"+file.DefaultAllowedDir+" under the working directory, created if missing)")
})

// setFileAllowedDirs applies --connect-file-allowed-dirs (empty: the
// environment's or the default) and creates the default directory.
func setFileAllowedDirs(env serveEnv) error {
	if err := file.SetAllowedDirs(splitComma(serveConnect.fileDirs)); err != nil {
		return err
	}
	for _, d := range file.AllowedDirs() {
		if _, err := os.Stat(d); err == nil {
			continue
		}
		if wd, _ := os.Getwd(); d == filepath.Join(wd, file.DefaultAllowedDir) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", d, err)
			}
			env.Logger.Info("created the directory FileStream connectors may use", "dir", d, "setting", file.AllowedDirsSetting)
			continue
		}
		env.Logger.Warn("a directory FileStream connectors may use does not exist", "dir", d, "setting", file.AllowedDirsSetting)
	}
	return nil
}

func init() {
	registerServeExtension(func(ctx context.Context, env serveEnv) (http.Handler, func(context.Context) error, error) {
		if serveConnect.disabled {
			return nil, nil, nil
		}
		bootstrap := []string{env.KafkaAddr}
		if serveConnect.bootstrap != "" {
			bootstrap = strings.Split(serveConnect.bootstrap, ",")
		}
		if err := setFileAllowedDirs(env); err != nil {
			return nil, nil, err
		}
		w, err := runtime.New(runtime.Config{
			BootstrapServers:           bootstrap,
			OffsetFlushInterval:        serveConnect.flushInterval,
			GroupID:                    serveConnect.groupID,
			HTTPAddr:                   env.HTTPAddr,
			Registerer:                 env.Registerer,
			ScheduledRebalanceMaxDelay: serveConnect.rebalanceWait,
			ConfigProviderKeys:         splitComma(serveConnect.providerKeys),
			EnvAllowlistPattern:        serveConnect.envAllowlist,
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

func splitComma(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
