package main

import (
	"os"
	"testing"

	"github.com/weirlog/weir/core/broker/brokertest"
)

// startBroker returns the address of a broker for the CLI tests: an
// in-process weir broker, or, with WEIR_TEST_BOOTSTRAP_SERVER set, an
// existing cluster (e.g. Apache Kafka from test/services/kafka.sh), so the
// same suite checks the CLI against both.
func startBroker(t *testing.T) string {
	t.Helper()
	if a := os.Getenv("WEIR_TEST_BOOTSTRAP_SERVER"); a != "" {
		return a
	}
	return brokertest.Start(t).Addr()
}
