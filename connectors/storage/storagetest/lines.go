// Package storagetest holds what the S3 and HDFS sinks' tests against the
// real servers share.
package storagetest

import (
	"bytes"
	"encoding/json"
)

// LineValue decodes one JSON line of a sink's file. With idOnly (the
// throughput benches, which only count records) a line holding a JSON
// string that starts with the kit's id, "v" and eight digits, gives that
// head alone, undecoded: decoding every 1 KiB line with encoding/json
// took the bench's observer more CPU than the sink it measured, on the
// same two cores. Any other line is decoded in full.
func LineValue(line []byte, idOnly bool) (any, error) {
	if idOnly && len(line) >= 11 && line[0] == '"' && line[1] == 'v' && line[len(line)-1] == '"' &&
		bytes.IndexFunc(line[2:10], func(r rune) bool { return r < '0' || r > '9' }) < 0 {
		return string(line[1:10]), nil
	}
	var v any
	err := json.Unmarshal(line, &v)
	return v, err
}
