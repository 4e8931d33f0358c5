package main

// WEIR_AWAIT_FILE makes `weir serve` wait, before it reads any setting,
// until that file exists (at most WEIR_AWAIT_TIMEOUT, default 60s). It is
// how a test harness sets what only exists once the container runs — the
// advertised Kafka address with Docker's mapped port — without a shell in
// the image: the harness copies a config file (WEIR_CONFIG) in, then the
// marker file, in one archive, so the config is whole when the marker
// appears (the testcontainers module, test/testcontainers, does this).

import (
	"fmt"
	"os"
	"time"
)

func awaitStartFile() error {
	path := os.Getenv("WEIR_AWAIT_FILE")
	if path == "" {
		return nil
	}
	timeout := 60 * time.Second
	if s := os.Getenv("WEIR_AWAIT_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("WEIR_AWAIT_TIMEOUT=%q: %w", s, err)
		}
		timeout = d
	}
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("WEIR_AWAIT_FILE %s did not appear within %v", path, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
