package storage

import (
	"fmt"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Configuration keys shared by the storage sinks, named as in Confluent's
// kafka-connect-storage-common.
const (
	FormatClassConfig        = "format.class"
	FlushSizeConfig          = "flush.size"
	RotateIntervalConfig     = "rotate.interval.ms"
	RotateScheduleConfig     = "rotate.schedule.interval.ms"
	PartitionerClassConfig   = "partitioner.class"
	PartitionFieldConfig     = "partition.field.name"
	PathFormatConfig         = "path.format"
	PartitionDurationConfig  = "partition.duration.ms"
	LocaleConfig             = "locale"
	TimezoneConfig           = "timezone"
	TimestampExtractorConfig = "timestamp.extractor"
	TimestampFieldConfig     = "timestamp.field"
	TopicsDirConfig          = "topics.dir"
	DirectoryDelimConfig     = "directory.delim"
	FileDelimConfig          = "file.delim"
	ByteArraySeparatorConfig = "format.bytearray.separator"
	ByteArrayExtConfig       = "format.bytearray.extension"
	NullValuesConfig         = "behavior.on.null.values"
	SchemaCompatConfig       = "schema.compatibility"
)

// Partitioner class names (Confluent's, and their simple names).
const (
	DefaultPartitionerClass = "io.confluent.connect.storage.partitioner.DefaultPartitioner"
	FieldPartitionerClass   = "io.confluent.connect.storage.partitioner.FieldPartitioner"
	TimePartitionerClass    = "io.confluent.connect.storage.partitioner.TimeBasedPartitioner"
	DailyPartitionerClass   = "io.confluent.connect.storage.partitioner.DailyPartitioner"
	HourlyPartitionerClass  = "io.confluent.connect.storage.partitioner.HourlyPartitioner"
)

// ConfigDef returns the shared keys; compressionKey names the backend's
// key for gzip of JSON files (s3.compression.type, or "" for none).
func ConfigDef(formats []string, defaultFormat string) *plugins.ConfigDef {
	return plugins.NewConfigDef().
		Define(plugins.ConfigKey{Name: FormatClassConfig, Type: plugins.ConfigClass, Default: defaultFormat, Importance: plugins.High,
			Validator: plugins.OneOf(formats...), Documentation: "The format of the files written (class name or simple name)"}).
		Define(plugins.ConfigKey{Name: FlushSizeConfig, Type: plugins.ConfigInt, Default: plugins.NoDefault, Validator: plugins.AtLeast(1), Importance: plugins.High,
			Documentation: "Number of records written to a file before it is committed"}).
		Define(plugins.ConfigKey{Name: RotateIntervalConfig, Type: plugins.ConfigLong, Default: int64(-1), Importance: plugins.High,
			Documentation: "Maximum span of record time in one file; also closes a file that received no record for this long of wall time (idle close). -1 disables"}).
		Define(plugins.ConfigKey{Name: RotateScheduleConfig, Type: plugins.ConfigLong, Default: int64(-1), Importance: plugins.Medium,
			Documentation: "Commit open files on this wall-clock schedule. File boundaries then depend on the wall clock (not reproducible); weir's recovery still drops records already stored. -1 disables"}).
		Define(plugins.ConfigKey{Name: PartitionerClassConfig, Type: plugins.ConfigClass, Default: DefaultPartitionerClass, Importance: plugins.High,
			Validator: plugins.OneOf(partitionerNames()...), Documentation: "How records map to directories"}).
		Define(plugins.ConfigKey{Name: PartitionFieldConfig, Type: plugins.ConfigList, Default: "", Importance: plugins.Medium,
			Documentation: "FieldPartitioner: the value fields whose values name the directories"}).
		Define(plugins.ConfigKey{Name: PathFormatConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium,
			Documentation: "TimeBasedPartitioner: a Joda-Time pattern of the directories, e.g. 'year'=YYYY/'month'=MM/'day'=dd"}).
		Define(plugins.ConfigKey{Name: PartitionDurationConfig, Type: plugins.ConfigLong, Default: int64(-1), Importance: plugins.Medium,
			Documentation: "TimeBasedPartitioner: the duration of one time partition in ms"}).
		Define(plugins.ConfigKey{Name: LocaleConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Low,
			Documentation: "TimeBasedPartitioner: the locale of the path format (numeric patterns do not depend on it)"}).
		Define(plugins.ConfigKey{Name: TimezoneConfig, Type: plugins.ConfigString, Default: "", Importance: plugins.Medium,
			Validator: plugins.ValidatorFunc("an IANA time zone", func(_ string, v any) error {
				if s, _ := v.(string); s != "" {
					if _, err := time.LoadLocation(s); err != nil {
						return err
					}
				}
				return nil
			}), Documentation: "TimeBasedPartitioner: the time zone of the path format (IANA name, e.g. UTC)"}).
		Define(plugins.ConfigKey{Name: TimestampExtractorConfig, Type: plugins.ConfigString, Default: "Wallclock", Importance: plugins.Medium,
			Validator: plugins.OneOf("Record", "RecordField", "Wallclock"), Documentation: "TimeBasedPartitioner: where the time comes from. Wallclock is not exactly-once"}).
		Define(plugins.ConfigKey{Name: TimestampFieldConfig, Type: plugins.ConfigString, Default: "timestamp", Importance: plugins.Medium,
			Documentation: "RecordField extractor: the value field holding the time (ms since the epoch, RFC 3339 text, or a Timestamp)"}).
		Define(plugins.ConfigKey{Name: TopicsDirConfig, Type: plugins.ConfigString, Default: "topics", Validator: plugins.NonEmptyString(), Importance: plugins.High,
			Documentation: "Top-level directory of the files"}).
		Define(plugins.ConfigKey{Name: DirectoryDelimConfig, Type: plugins.ConfigString, Default: "/", Validator: plugins.NonEmptyString(), Importance: plugins.Low,
			Documentation: "Directory delimiter"}).
		Define(plugins.ConfigKey{Name: FileDelimConfig, Type: plugins.ConfigString, Default: "+", Validator: plugins.NonEmptyString(), Importance: plugins.Low,
			Documentation: "Delimiter between topic, partition and offsets in file names"}).
		Define(plugins.ConfigKey{Name: ByteArraySeparatorConfig, Type: plugins.ConfigString, Default: "\n", Importance: plugins.Low,
			Documentation: "ByteArrayFormat: bytes written after each record"}).
		Define(plugins.ConfigKey{Name: ByteArrayExtConfig, Type: plugins.ConfigString, Default: ".bin", Importance: plugins.Low,
			Documentation: "ByteArrayFormat: the file extension"}).
		Define(avroCodecKey).Define(parquetCodecKey).
		Define(plugins.ConfigKey{Name: NullValuesConfig, Type: plugins.ConfigString, Default: "fail", Validator: plugins.OneOfIgnoreCase("fail", "ignore"), Importance: plugins.Low,
			Documentation: "What a record with a null value does: fail the task or be skipped"}).
		Define(plugins.ConfigKey{Name: SchemaCompatConfig, Type: plugins.ConfigString, Default: "NONE", Validator: plugins.OneOfIgnoreCase("NONE", "BACKWARD", "FORWARD", "FULL"), Importance: plugins.Low,
			Documentation: "When a change of the value schema starts a new file: NONE on any change; BACKWARD and FULL when the version rises (older records join the file, projected to its schema: missing fields take their defaults); FORWARD when it falls (newer records join, projected)"})
}

// Settings is the parsed shared configuration.
type Settings struct {
	Format          Format
	FlushSize       int
	RotateInterval  time.Duration // record time; 0 off
	RotateSchedule  time.Duration // wall clock; 0 off
	Partitioner     Partitioner
	TopicsDir       string
	DirDelim        string
	FileDelim       string
	IgnoreNulls     bool
	ExactlyOnceSafe bool   // false with the Wallclock extractor
	SchemaCompat    string // NONE, BACKWARD, FORWARD or FULL
}

// SchemaRolls reports whether a record with value schema next must start
// a new file when the open file has schema cur, as Confluent's
// StorageSchemaCompatibility decides: NONE rolls on any change; BACKWARD
// and FULL roll when next has a higher version (an older one joins the
// file, projected); FORWARD when next has a lower version (a newer one
// joins, projected). Schemas without versions (0) fall back to NONE. A
// record without a schema never rolls a file (a schema-bound format then
// fails it on its own). A file's schema is that of its first record, as
// in Confluent's S3 sink: under BACKWARD and FULL the newest of the file,
// under FORWARD the oldest. The decision depends on the records alone, so
// file boundaries stay reproducible.
func (s *Settings) SchemaRolls(cur, next *plugins.Schema) bool {
	if next == nil || cur.Equal(next) {
		return false
	}
	if cur == nil || cur.Version == 0 || next.Version == 0 {
		return true
	}
	switch s.SchemaCompat {
	case "BACKWARD", "FULL":
		return next.Version > cur.Version
	case "FORWARD":
		return next.Version < cur.Version
	}
	return true
}

// Project returns rec with its value projected to cur, the schema of the
// file it joins without rolling it (see SchemaRolls), as Confluent's
// StorageSchemaCompatibility.project does with Kafka Connect's
// SchemaProjector: fields the record lacks take cur's defaults, fields
// cur lacks are dropped, numbers widen. rec itself is not changed (the
// error policy gets the record as it came); a record of schema cur, or
// without a schema, is returned as it is.
func (s *Settings) Project(cur *plugins.Schema, rec *plugins.Record) (*plugins.Record, error) {
	if cur == nil || rec.ValueSchema == nil || cur.Equal(rec.ValueSchema) {
		return rec, nil
	}
	v, err := plugins.Project(rec.ValueSchema, rec.Value, cur)
	if err != nil {
		return nil, fmt.Errorf("schema.compatibility=%s: the value of schema %s version %d cannot join the open file of version %d: %w",
			s.SchemaCompat, rec.ValueSchema.Name, rec.ValueSchema.Version, cur.Version, err)
	}
	p := *rec
	p.ValueSchema, p.Value = cur, v
	return &p, nil
}

// Parse builds Settings from p; gzip tells JSON to compress.
func Parse(p *plugins.ParsedConfig, formats map[string]func(*plugins.ParsedConfig, bool) (Format, error), gzip bool) (*Settings, error) {
	s := &Settings{
		FlushSize:    p.Int(FlushSizeConfig),
		TopicsDir:    strings.Trim(p.String(TopicsDirConfig), "/"),
		DirDelim:     p.String(DirectoryDelimConfig),
		FileDelim:    p.String(FileDelimConfig),
		IgnoreNulls:  strings.EqualFold(p.String(NullValuesConfig), "ignore"),
		SchemaCompat: strings.ToUpper(p.String(SchemaCompatConfig)),
	}
	if s.TopicsDir == "" {
		return nil, fmt.Errorf("%s must name a directory", TopicsDirConfig)
	}
	if ms := p.Long(RotateIntervalConfig); ms > 0 {
		s.RotateInterval = time.Duration(ms) * time.Millisecond
	}
	if ms := p.Long(RotateScheduleConfig); ms > 0 {
		s.RotateSchedule = time.Duration(ms) * time.Millisecond
	}
	mk, ok := formats[p.String(FormatClassConfig)]
	if !ok {
		return nil, fmt.Errorf("%s %q is not supported", FormatClassConfig, p.String(FormatClassConfig))
	}
	f, err := mk(p, gzip)
	if err != nil {
		return nil, err
	}
	s.Format = f
	part, eos, err := newPartitioner(p, s.DirDelim)
	if err != nil {
		return nil, err
	}
	s.Partitioner, s.ExactlyOnceSafe = part, eos
	return s, nil
}
