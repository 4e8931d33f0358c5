// Package weirtest runs weir inside a Go test process: a broker and a Kafka
// Connect runtime on 127.0.0.1:0 with a temporary data directory, stopped by
// tb.Cleanup. It is the embedded way to use weir in a test suite (the others
// are the container image and the testcontainers module, test/testcontainers):
//
//	w := weirtest.Start(t, weirtest.WithTopics("orders:3"))
//	cl, _ := kgo.NewClient(kgo.SeedBrokers(w.Brokers()...))
//	resp, _ := http.Get(w.ConnectURL() + "/connectors")
//
// weirtest.Nodes(3) starts a replicated three-node cluster in the process
// instead (each node a metadata voter); StopNode stops one of them.
//
// Every built-in connector (FileStream, datagen, JDBC, STOMP) is available;
// FileStream files may live under FilesDir(). It grew out of
// core/broker/brokertest, which stays the broker-only helper weir's own tests
// use.
//
// Start returns as soon as the broker serves: the Connect runtime comes up
// in the background (its three state topics, the REST listener, the
// WithConnectors definitions), and ConnectURL or WaitConnect wait for it.
// A test that only produces and consumes never waits for Connect. Start →
// first acknowledged produce is measured by BenchmarkStartToFirstAck
// (target < 100 ms): most of it used to be raft's election timeout, which a
// lone voter no longer waits out (core/cluster).
package weirtest
