// Package gctune holds the garbage-collector setting weir serve runs with,
// so that the benchmarks which run a connector's task in their own process
// (test/bench/jdbcbench) measure it the way weir serve runs it.
//
// Go's default, GOGC=100, starts a collection whenever the heap has grown
// by its live size since the last one. weir's live heap is small (the log
// lives in files and the page cache, records pass through in batches), so
// at GOGC=100 a connector that turns rows into records collects about once
// per batch: the JDBC source's bulk read spent about half of its CPU in
// the collector (713 ns per row at GOGC=100, 495 at 200, 367 with almost
// no collection; issue 11's bench, 1,000,000 rows, 5 rounds). GOGC=200
// lets the heap grow to three times its live size instead of two: weir
// serve's peak RSS under make bench stays well below a quarter of Apache
// Kafka's (whose JVM reserves a 1 GB heap), and its CPU per row or per GB
// falls. An explicit GOGC in the environment always wins.
package gctune
