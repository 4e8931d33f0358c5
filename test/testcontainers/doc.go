// Package testcontainers is a testcontainers-go module for weir, shaped like
// testcontainers-go's modules/kafka and modules/redpanda:
//
//	ctr, err := testcontainers.Run(ctx, "weir:latest",
//		testcontainers.WithTopics("orders:3"),
//		testcontainers.WithConnectors("connectors/file-source.yaml"))
//	defer tc.TerminateContainer(ctr)
//	brokers, _ := ctr.Brokers(ctx)   // host:port for any Kafka client
//	url, _ := ctr.ConnectURL(ctx)    // Kafka Connect REST API
//
// It has its own go.mod, so a user's module pulls testcontainers-go and
// franz-go (for WithTopics) but none of weir's dependencies.
//
// # Advertised listeners without a shell
//
// A Kafka broker in a container must advertise the address clients reach,
// which on a normal Docker host is a mapped port known only after the
// container starts. The Kafka modules solve it by making the entrypoint a
// shell loop that waits for a script. weir's image has no shell; instead the
// module starts it with WEIR_CONFIG=/etc/weir/testcontainers.yaml and
// WEIR_AWAIT_FILE=/etc/weir/testcontainers.ready, and weir serve waits for
// the marker before it reads any setting. A post-start hook reads the mapped
// port, copies the config (advertised-kafka-addr: host:mappedPort) in, then
// the marker. The wait strategy is GET /health answering 200 plus a TCP dial
// of the Kafka port — not a log line.
//
// That mapped-port path cannot run on weir's own test machine (bridge
// networking is off limits there), so it is covered by unit tests of the
// module's logic (module_test.go); the integration test runs the image with
// WithHostNetwork, which picks free 127.0.0.1 ports itself and hands them
// to weir through WEIR_KAFKA_ADDR, WEIR_HTTP_ADDR and
// WEIR_ADVERTISED_KAFKA_ADDR.
//
// Ryuk (the reaper container) is testcontainers' safety net for containers
// a crashed test leaves behind; users normally keep it on. Where it cannot
// be pulled, set TESTCONTAINERS_RYUK_DISABLED=true and terminate every
// container yourself (testcontainers.CleanupContainer(t, ctr)).
package testcontainers
