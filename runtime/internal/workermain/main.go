// Command workermain runs one connect worker in its own process, for the
// runtime's crash tests (kill -9 a worker mid-stream). It is not part of
// the weir binary; `weir serve` embeds the runtime instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	_ "github.com/weirlog/weir/connectors/datagen"
	_ "github.com/weirlog/weir/connectors/file"
	"github.com/weirlog/weir/runtime"
)

func main() {
	var (
		bootstrap = flag.String("bootstrap", "127.0.0.1:9092", "Kafka bootstrap servers, comma separated")
		httpAddr  = flag.String("http-addr", "127.0.0.1:0", "REST listen address")
		group     = flag.String("group", "", "group id (empty: standalone)")
		prefix    = flag.String("topic-prefix", "", "prefix of the three state topics")
		delay     = flag.Duration("delay", 2*time.Second, "scheduled rebalance max delay")
		session   = flag.Duration("session-timeout", 6*time.Second, "group session timeout")
		flush     = flag.Duration("flush", 300*time.Millisecond, "offset flush interval")
		dir       = flag.String("connectors", "", "apply this directory of definitions at start")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	w, err := runtime.New(runtime.Config{
		BootstrapServers:           strings.Split(*bootstrap, ","),
		GroupID:                    *group,
		ConfigTopic:                *prefix + "connect-configs",
		OffsetTopic:                *prefix + "connect-offsets",
		StatusTopic:                *prefix + "connect-status",
		OffsetTopicPartitions:      3,
		StatusTopicPartitions:      2,
		TopicReplicationFactor:     1,
		HTTPAddr:                   *httpAddr,
		OffsetFlushInterval:        *flush,
		SessionTimeout:             *session,
		HeartbeatInterval:          500 * time.Millisecond,
		ScheduledRebalanceMaxDelay: *delay,
		RestartBackoffMin:          200 * time.Millisecond,
		RestartBackoffMax:          time.Second,
	}, logger)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Addr: *httpAddr, Handler: w.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := w.Start(sctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if *dir != "" {
		if err := w.ApplyDir(*dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fmt.Println("READY")
	<-ctx.Done()
	srv.Close()
	w.Close()
}
