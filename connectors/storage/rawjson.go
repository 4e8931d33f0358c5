package storage

import "github.com/weirlog/weir/plugins"

// AcceptsRawJSON implements plugins.RawJSONSink: the runtime may hand Put
// a key or value as its JSON text (plugins.RawJSON) when nothing the task
// does with a record reads the value but the writing of that text (the
// task never reads keys). That holds
// for JsonFormat (its writer puts the text on its line) with a
// partitioner that names directories without the value (DefaultPartitioner,
// or time-based with the Record or Wallclock extractor) and with
// schema.compatibility=NONE (the other modes may project a record's value
// onto the file's schema). Avro, Parquet and the other formats, and
// FieldPartitioner or the RecordField extractor, need the decoded value,
// so their records arrive decoded. A null value never arrives as RawJSON,
// so behavior.on.null.values works as before; so do the schema rolls
// (the record's ValueSchema is set either way) and the dead letter queue
// (the runtime's reporter writes RawJSON with the converter it came from).
func (t *Task) AcceptsRawJSON() bool {
	if t.b == nil || t.b.Settings == nil {
		return false
	}
	s := t.b.Settings
	if _, ok := s.Format.(jsonFormat); !ok || s.SchemaCompat != "NONE" {
		return false
	}
	switch p := s.Partitioner.(type) {
	case defaultPartitioner:
		return true
	case *timePartitioner:
		return p.extractor == "Record" || p.extractor == "Wallclock"
	}
	return false
}

var _ plugins.RawJSONSink = (*Task)(nil)
