// Package storagetest holds what the S3 and HDFS sinks' tests against the
// real servers share.
package storagetest

import "encoding/json"

// LineValue decodes one JSON line of a sink's file in full. (The
// throughput rows used to count lines by their id alone, undecoded, as
// their observer read the files while the clock ran; they now read the
// files only after it stopped, and check every value.)
func LineValue(line []byte) (any, error) {
	var v any
	err := json.Unmarshal(line, &v)
	return v, err
}
