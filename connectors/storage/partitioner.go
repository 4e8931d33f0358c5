package storage

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/weirlog/weir/plugins"
)

// Partitioner maps a record to its encoded partition: the directory (under
// <topics.dir>/<topic>/) of the file it goes to.
type Partitioner interface {
	Encode(rec *plugins.Record) (string, error)
	// Time returns the record time rotate.interval.ms measures (the
	// extractor's for time-based partitioners, else the record timestamp).
	Time(rec *plugins.Record) time.Time
}

func partitionerNames() []string {
	var out []string
	for _, c := range []string{DefaultPartitionerClass, FieldPartitionerClass, TimePartitionerClass, DailyPartitionerClass, HourlyPartitionerClass} {
		out = append(out, c, c[strings.LastIndexByte(c, '.')+1:])
	}
	return out
}

func simple(class string) string { return class[strings.LastIndexByte(class, '.')+1:] }

// newPartitioner builds the configured partitioner; eos is false when the
// encoded partition depends on the wall clock.
func newPartitioner(p *plugins.ParsedConfig, delim string) (Partitioner, bool, error) {
	switch simple(p.String(PartitionerClassConfig)) {
	case "DefaultPartitioner":
		return defaultPartitioner{}, true, nil
	case "FieldPartitioner":
		fields := p.List(PartitionFieldConfig)
		if len(fields) == 0 || fields[0] == "" {
			return nil, false, fmt.Errorf("FieldPartitioner needs %s", PartitionFieldConfig)
		}
		return fieldPartitioner{fields: fields, delim: delim}, true, nil
	}
	tp := &timePartitioner{}
	format, dur := p.String(PathFormatConfig), p.Long(PartitionDurationConfig)
	switch simple(p.String(PartitionerClassConfig)) {
	case "DailyPartitioner":
		format, dur = "'year'=YYYY/'month'=MM/'day'=dd", 24*3600*1000
	case "HourlyPartitioner":
		format, dur = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", 3600*1000
	}
	if format == "" {
		return nil, false, fmt.Errorf("TimeBasedPartitioner needs %s", PathFormatConfig)
	}
	if dur <= 0 {
		return nil, false, fmt.Errorf("TimeBasedPartitioner needs %s > 0", PartitionDurationConfig)
	}
	tz := p.String(TimezoneConfig)
	if tz == "" {
		return nil, false, fmt.Errorf("TimeBasedPartitioner needs %s (e.g. UTC)", TimezoneConfig)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", TimezoneConfig, err)
	}
	if delim != "/" {
		format = strings.ReplaceAll(format, "/", delim)
	}
	tp.layout, err = parseJoda(format)
	if err != nil {
		return nil, false, fmt.Errorf("%s %q: %w", PathFormatConfig, format, err)
	}
	tp.loc, tp.dur = loc, time.Duration(dur)*time.Millisecond
	tp.extractor, tp.field = p.String(TimestampExtractorConfig), p.String(TimestampFieldConfig)
	return tp, tp.extractor != "Wallclock", nil
}

type defaultPartitioner struct{}

func (defaultPartitioner) Encode(rec *plugins.Record) (string, error) {
	if p := rec.Partition; p >= 0 && int(p) < len(partitionDirs) {
		return partitionDirs[p], nil
	}
	return "partition=" + strconv.Itoa(int(rec.Partition)), nil
}

// partitionDirs are the default partitioner's names of the first Kafka
// partitions, made once: Encode runs for every record, and building the
// name was the writer core's last allocation per record.
var partitionDirs = func() (d [256]string) {
	for i := range d {
		d[i] = "partition=" + strconv.Itoa(i)
	}
	return d
}()

func (defaultPartitioner) Time(rec *plugins.Record) time.Time { return rec.Timestamp }

type fieldPartitioner struct {
	fields []string
	delim  string
}

func (f fieldPartitioner) Encode(rec *plugins.Record) (string, error) {
	parts := make([]string, 0, len(f.fields))
	for _, name := range f.fields {
		v, ok := fieldOf(rec.Value, name)
		if !ok {
			return "", fmt.Errorf("FieldPartitioner: the value has no field %q", name)
		}
		switch v.(type) {
		case string, bool, int8, int16, int32, int64, int, float32, float64:
		default:
			return "", fmt.Errorf("FieldPartitioner: field %q is %T; only strings, numbers and booleans name a directory", name, v)
		}
		parts = append(parts, name+"="+plugins.ValueString(v))
	}
	return strings.Join(parts, f.delim), nil
}
func (fieldPartitioner) Time(rec *plugins.Record) time.Time { return rec.Timestamp }

// fieldOf reads a top-level field of a Struct or map value.
func fieldOf(v any, name string) (any, bool) {
	switch x := v.(type) {
	case *plugins.Struct:
		if x == nil {
			return nil, false
		}
		if !x.Has(name) {
			return nil, false
		}
		f := x.Get(name)
		return f, f != nil
	case map[string]any:
		f, ok := x[name]
		return f, ok && f != nil
	}
	return nil, false
}

type timePartitioner struct {
	layout    []jodaToken
	loc       *time.Location
	dur       time.Duration
	extractor string
	field     string
}

func (t *timePartitioner) ts(rec *plugins.Record) (time.Time, error) {
	switch t.extractor {
	case "Record":
		if rec.Timestamp.IsZero() {
			return time.Time{}, fmt.Errorf("record at offset %d has no timestamp", rec.Offset)
		}
		return rec.Timestamp, nil
	case "RecordField":
		v, ok := fieldOf(rec.Value, t.field)
		if !ok {
			return time.Time{}, fmt.Errorf("the value has no field %q", t.field)
		}
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case int64:
			return time.UnixMilli(x), nil
		case int32:
			return time.UnixMilli(int64(x)), nil
		case float64:
			return time.UnixMilli(int64(x)), nil
		case string:
			return time.Parse(time.RFC3339Nano, x)
		}
		return time.Time{}, fmt.Errorf("field %q is %T, not a time", t.field, v)
	}
	return time.Now(), nil
}

func (t *timePartitioner) Encode(rec *plugins.Record) (string, error) {
	ts, err := t.ts(rec)
	if err != nil {
		return "", fmt.Errorf("TimeBasedPartitioner: %w", err)
	}
	// Floor to the partition duration in the configured zone, as
	// storage-common does (offset-adjusted, so days start at local midnight).
	_, off := ts.In(t.loc).Zone()
	ms := ts.UnixMilli() + int64(off)*1000
	d := t.dur.Milliseconds()
	floored := ms - ((ms%d)+d)%d - int64(off)*1000
	return formatJoda(t.layout, time.UnixMilli(floored).In(t.loc)), nil
}

func (t *timePartitioner) Time(rec *plugins.Record) time.Time {
	ts, err := t.ts(rec)
	if err != nil {
		return rec.Timestamp
	}
	return ts
}

// jodaToken is a literal or a date field of a Joda-Time pattern.
type jodaToken struct {
	lit   string
	field byte
	width int
}

// parseJoda reads the subset of Joda-Time patterns paths use: quoted
// literals and the numeric fields Y/y (year), M, d, H, m, s.
func parseJoda(s string) ([]jodaToken, error) {
	var out []jodaToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote at %d", i)
			}
			if j == 0 {
				out = append(out, jodaToken{lit: "'"})
			} else {
				out = append(out, jodaToken{lit: s[i+1 : i+1+j]})
			}
			i += j + 2
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i
			for j < len(s) && s[j] == c {
				j++
			}
			switch c {
			case 'Y', 'y', 'M', 'd', 'H', 'm', 's':
			default:
				return nil, fmt.Errorf("pattern letter %q is not supported (use Y, M, d, H, m, s)", c)
			}
			out = append(out, jodaToken{field: c, width: j - i})
			i = j
		default:
			out = append(out, jodaToken{lit: string(c)})
			i++
		}
	}
	return out, nil
}

func formatJoda(toks []jodaToken, t time.Time) string {
	var b strings.Builder
	for _, k := range toks {
		if k.field == 0 {
			b.WriteString(k.lit)
			continue
		}
		var v int
		switch k.field {
		case 'Y', 'y':
			v = t.Year()
			if k.width == 2 {
				v %= 100
			}
		case 'M':
			v = int(t.Month())
		case 'd':
			v = t.Day()
		case 'H':
			v = t.Hour()
		case 'm':
			v = t.Minute()
		case 's':
			v = t.Second()
		}
		fmt.Fprintf(&b, "%0*d", k.width, v)
	}
	return b.String()
}
