// Package jdbc holds weir's PostgreSQL source and sink connectors, drop-in
// replacements for Confluent's io.confluent.connect.jdbc.JdbcSourceConnector
// and …JdbcSinkConnector on github.com/jackc/pgx/v5, with Confluent's
// configuration keys, source partitions and offsets. Importing the package
// registers both (aliases JdbcSource, JdbcSink, jdbc-source, jdbc-sink).
package jdbc
