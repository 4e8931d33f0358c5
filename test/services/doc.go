// Package services holds the scripts that install, start, wait for and stop
// every real system weir's connector and compatibility tests talk to
// (PostgreSQL, ActiveMQ, S3, Elasticsearch, HDFS, Apache Kafka), and the
// smoke tests proving that the client each connector uses talks to it.
//
// The smoke tests are built only with the "services" build tag:
//
//	bash test/services/all.sh start
//	go test -tags services -count=1 ./test/services/
//
// Endpoints default to the ports the scripts use and can be moved with the
// same environment variables (WEIR_PG_PORT, WEIR_STOMP_PORT, WEIR_S3_PORT,
// WEIR_ES_PORT, WEIR_HDFS_PORT, WEIR_KAFKA_PORT).
package services
