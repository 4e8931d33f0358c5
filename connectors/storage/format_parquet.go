package storage

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/gzip"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/weirlog/weir/plugins"
)

// ParquetCodecConfig is Confluent's key for the codec of Parquet files.
const ParquetCodecConfig = "parquet.codec"

var parquetCodecKey = plugins.ConfigKey{Name: ParquetCodecConfig, Type: plugins.ConfigString, Default: "snappy", Importance: plugins.Low,
	Validator:     plugins.OneOfIgnoreCase("none", "uncompressed", "snappy", "gzip", "zstd"),
	Documentation: "ParquetFormat: the page codec: none, snappy, gzip or zstd; it is part of the extension (.snappy.parquet)"}

// parquetCodecs: the codec and the extension part Parquet's
// CompressionCodecName gives it (as Confluent names files).
var parquetCodecs = map[string]struct {
	codec compress.Codec
	ext   string
}{
	"none":         {&uncompressed.Codec{}, ""},
	"uncompressed": {&uncompressed.Codec{}, ""},
	"snappy":       {&fastSnappy{}, ".snappy"},
	"gzip":         {&gzip.Codec{}, ".gz"},
	"zstd":         {&zstd.Codec{}, ".zstd"},
}

// fastSnappy is parquet-go's snappy codec at klauspost's default speed:
// parquet-go's uses the "better" mode, which took 3x the CPU for a file
// of 1 KiB text records no smaller (BenchmarkFormats1KiB). The blocks are
// plain snappy either way.
type fastSnappy struct{ snappy.Codec }

func (*fastSnappy) Encode(dst, src []byte) ([]byte, error) {
	n := s2.MaxEncodedLen(len(src))
	if n < 0 {
		return nil, fmt.Errorf("snappy: a %d-byte page is too large", len(src))
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	return s2.EncodeSnappy(dst[:n], src), nil
}

// ParquetFormat writes Parquet files (Confluent's ParquetFormat) whose
// schema is the record's Connect value schema, which must be a STRUCT;
// columns follow the order of its fields. The types are those Confluent's
// files get through parquet-avro: INT8/16/32 INT32, INT64, FLOAT, DOUBLE,
// BOOLEAN, STRING (UTF8), BYTES, Decimal DECIMAL(connect.decimal.precision
// or 64, scale) on BYTE_ARRAY, Date DATE, Time TIME(MILLIS), Timestamp
// TIMESTAMP(MILLIS, UTC), ARRAY LIST, MAP MAP, STRUCT group; optional
// schemas are OPTIONAL. A file is one row group, built in memory (the
// writer core holds the file whole until it is committed anyway).
func ParquetFormat(p *plugins.ParsedConfig, _ bool) (Format, error) {
	name := strings.ToLower(p.String(ParquetCodecConfig))
	c, ok := parquetCodecs[name]
	if !ok {
		return nil, fmt.Errorf("%s %q is not supported (none, snappy, gzip, zstd)", ParquetCodecConfig, name)
	}
	return &parquetFormat{codec: c.codec, ext: c.ext + ".parquet"}, nil
}

// ParquetFormatPlain is ParquetFormat with the extension .parquet whatever
// the codec, as Confluent's HDFS sinks name their files (its S3 sink puts
// the codec in the name).
func ParquetFormatPlain(p *plugins.ParsedConfig, gz bool) (Format, error) {
	f, err := ParquetFormat(p, gz)
	if err != nil {
		return nil, err
	}
	f.(*parquetFormat).ext = ".parquet"
	return f, nil
}

type parquetFormat struct {
	codec compress.Codec
	ext   string
	cache schemaCache[*parquetCompiled]
}

type parquetCompiled struct {
	schema *parquet.Schema
	conv   func(*plugins.Struct) (map[string]any, error)
	// flat, for a struct whose fields are all leaves (no ARRAY, MAP or
	// STRUCT), builds the row's column values directly (see parquetFlat);
	// nil otherwise.
	flat func(*plugins.Struct, parquet.Row) (parquet.Row, error)
}

func (f *parquetFormat) Ext() string { return f.ext }

func (f *parquetFormat) NewWriter(w io.Writer) RecordWriter { return &parquetWriter{f: f, w: w} }

func (f *parquetFormat) compile(s *plugins.Schema) (*parquetCompiled, error) {
	return f.cache.get(s, func() (*parquetCompiled, error) {
		if s.Type != plugins.TypeStruct {
			return nil, fmt.Errorf("parquet needs a STRUCT value schema, the record's is %s", s.Type)
		}
		g, conv, err := parquetGroup(s, "")
		if err != nil {
			return nil, err
		}
		name := s.Name
		if name == "" {
			name = avroDefaultName
		}
		return &parquetCompiled{schema: parquet.NewSchema(name, g), conv: conv, flat: parquetFlat(s)}, nil
	})
}

type parquetWriter struct {
	f      *parquetFormat
	w      io.Writer
	schema *plugins.Schema
	c      *parquetCompiled
	pw     *parquet.GenericWriter[map[string]any]
	row    [1]map[string]any
	rows   [1]parquet.Row // a flat struct's row, reused
	broken error
}

// SameSchema: see avroWriter.SameSchema.
func (p *parquetWriter) SameSchema(rec *plugins.Record) bool {
	return p.schema == nil || rec.ValueSchema == nil || sameSchema(p.schema, rec.ValueSchema)
}

func (p *parquetWriter) Write(rec *plugins.Record) (err error) {
	if p.broken != nil {
		return p.broken
	}
	if rec.ValueSchema == nil {
		return fmt.Errorf("parquet format: %w", errSchemaless)
	}
	c := p.c
	if p.schema == nil {
		if c, err = p.f.compile(rec.ValueSchema); err != nil {
			return fmt.Errorf("parquet format: %w", err)
		}
	} else if !sameSchema(p.schema, rec.ValueSchema) {
		return fmt.Errorf("parquet format: %w", errSchemaChanged)
	}
	st, ok := rec.Value.(*plugins.Struct)
	if !ok {
		return fmt.Errorf("parquet format: the value is %T, not a Struct of its STRUCT schema", rec.Value)
	}
	// Convert (and so check) everything before the row reaches the
	// column buffers: parquet-go panics on a value of the wrong type, and
	// half a row would corrupt the file.
	var row map[string]any
	if c.flat != nil {
		p.rows[0], err = c.flat(st, p.rows[0])
	} else {
		row, err = c.conv(st)
	}
	if err != nil {
		return fmt.Errorf("parquet format: the value does not match its schema: %w", err)
	}
	if p.pw == nil {
		p.pw = parquet.NewGenericWriter[map[string]any](p.w, c.schema, parquet.Compression(p.f.codec))
		p.schema, p.c = rec.ValueSchema, c
	}
	defer func() {
		if r := recover(); r != nil {
			p.broken = fmt.Errorf("parquet format: the writer failed and the file is lost: %v", r)
			err = p.broken
		}
	}()
	if c.flat != nil {
		_, err = p.pw.WriteRows(p.rows[:])
	} else {
		p.row[0] = row
		_, err = p.pw.Write(p.row[:])
	}
	if err != nil {
		p.broken = fmt.Errorf("parquet format: write a row: %w", err)
		return p.broken
	}
	return nil
}

func (p *parquetWriter) Close() (err error) {
	if p.broken != nil {
		return p.broken
	}
	if p.pw == nil {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet format: finish the file: %v", r)
		}
	}()
	if err := p.pw.Close(); err != nil {
		return fmt.Errorf("parquet format: finish the file: %w", err)
	}
	return nil
}

// pconv converts one Connect value (nil included) for parquet-go.
type pconv func(v any) (any, error)

// parquetNode maps a Connect schema to a Parquet node and its converter.
func parquetNode(s *plugins.Schema, path string) (parquet.Node, pconv, error) {
	n, conv, err := parquetBase(s, path)
	if err != nil {
		return nil, nil, err
	}
	def := s.Default
	if s.Optional {
		return parquet.Optional(n), func(v any) (any, error) {
			if v == nil {
				v = def
			}
			if v == nil {
				return nil, nil
			}
			return conv(v)
		}, nil
	}
	return n, func(v any) (any, error) {
		if v == nil {
			v = def
		}
		if v == nil {
			return nil, fmt.Errorf("%snull for a required %s", at(path), s.Type)
		}
		return conv(v)
	}, nil
}

// boxedNode is parquetNode for the values parquet-go's writer reflects
// on (fields of a group, list elements, map values): it boxes a present
// value of an optional leaf in a pointer, because parquet-go writes the
// zero value of a plain Go value in an optional column as null (0, "",
// false came back as null), and a non-nil pointer as the value it points
// to. parquetFlat's rows carry definition levels themselves and take
// parquetNode's plain values.
func boxedNode(s *plugins.Schema, path string) (parquet.Node, pconv, error) {
	n, conv, err := parquetNode(s, path)
	if err != nil || !s.Optional {
		return n, conv, err
	}
	return n, func(v any) (any, error) {
		x, err := conv(v)
		if err != nil || x == nil {
			return x, err
		}
		return optionalLeaf(x), nil
	}, nil
}

// optionalLeaf boxes a leaf's value; groups, lists and maps are left as
// they are (parquet-go writes an empty one as present).
func optionalLeaf(x any) any {
	switch v := x.(type) {
	case string:
		return &v
	case []byte:
		return &v
	case int32:
		return &v
	case int64:
		return &v
	case float32:
		return &v
	case float64:
		return &v
	case bool:
		return &v
	}
	return x
}

func parquetBase(s *plugins.Schema, path string) (parquet.Node, pconv, error) {
	switch s.Name {
	case plugins.DecimalName:
		scale, err := s.DecimalScale()
		if err != nil {
			return nil, nil, fmt.Errorf("%s%w", at(path), err)
		}
		prec := defaultDecimalPrec
		if p, ok := s.Parameters[decimalPrecisionProp]; ok {
			if prec, err = strconv.Atoi(p); err != nil || prec < 1 {
				return nil, nil, fmt.Errorf("%s%s %q is not a positive integer", at(path), decimalPrecisionProp, p)
			}
		}
		if scale < 0 || scale > prec {
			return nil, nil, fmt.Errorf("%sdecimal scale %d is outside 0..precision %d (Parquet allows no other)", at(path), scale, prec)
		}
		return parquet.Decimal(scale, prec, parquet.ByteArrayType), pconv(logicalConv(s, path)), nil
	case plugins.DateName:
		return parquet.Date(), pconv(logicalConv(s, path)), nil
	case plugins.TimeName:
		return parquet.Time(parquet.Millisecond), pconv(logicalConv(s, path)), nil
	case plugins.TimestampName:
		return parquet.Timestamp(parquet.Millisecond), pconv(logicalConv(s, path)), nil
	}
	switch s.Type {
	case plugins.TypeInt8:
		return parquet.Leaf(parquet.Int32Type), func(v any) (any, error) {
			x, ok := v.(int8)
			if !ok {
				return nil, typeMismatch(path, s, v)
			}
			return int32(x), nil
		}, nil
	case plugins.TypeInt16:
		return parquet.Leaf(parquet.Int32Type), func(v any) (any, error) {
			x, ok := v.(int16)
			if !ok {
				return nil, typeMismatch(path, s, v)
			}
			return int32(x), nil
		}, nil
	case plugins.TypeInt32:
		return parquet.Leaf(parquet.Int32Type), pconv(is[int32](s, path)), nil
	case plugins.TypeInt64:
		return parquet.Leaf(parquet.Int64Type), pconv(is[int64](s, path)), nil
	case plugins.TypeFloat32:
		return parquet.Leaf(parquet.FloatType), pconv(is[float32](s, path)), nil
	case plugins.TypeFloat64:
		return parquet.Leaf(parquet.DoubleType), pconv(is[float64](s, path)), nil
	case plugins.TypeBoolean:
		return parquet.Leaf(parquet.BooleanType), pconv(is[bool](s, path)), nil
	case plugins.TypeString:
		return parquet.String(), pconv(is[string](s, path)), nil
	case plugins.TypeBytes:
		return parquet.Leaf(parquet.ByteArrayType), pconv(is[[]byte](s, path)), nil
	case plugins.TypeArray:
		item, conv, err := boxedNode(s.ValueSchema, path+"[]")
		if err != nil {
			return nil, nil, err
		}
		return parquet.List(item), pconv(arrayConv(s, path, avroConv(conv))), nil
	case plugins.TypeMap:
		if !s.KeySchema.Type.IsPrimitive() {
			return nil, nil, fmt.Errorf("%sparquet map keys must be primitive, not %s", at(path), s.KeySchema.Type)
		}
		// MAP keys are required in Parquet.
		kn, kconv, err := parquetBase(s.KeySchema, path+"{key}")
		if err != nil {
			return nil, nil, err
		}
		vn, vconv, err := boxedNode(s.ValueSchema, path+"{}")
		if err != nil {
			return nil, nil, err
		}
		return parquet.Map(kn, vn), func(v any) (any, error) {
			out := map[any]any{}
			err := mapEntries(s, path, v, func(k, e any) error {
				if k == nil {
					return fmt.Errorf("%sa null map key (Parquet map keys are required)", at(path))
				}
				kx, err := kconv(k)
				if err != nil {
					return err
				}
				vx, err := vconv(e)
				out[kx] = vx
				return err
			})
			return out, err
		}, nil
	case plugins.TypeStruct:
		g, conv, err := parquetGroup(s, path)
		if err != nil {
			return nil, nil, err
		}
		return g, func(v any) (any, error) {
			st, ok := v.(*plugins.Struct)
			if !ok {
				return nil, typeMismatch(path, s, v)
			}
			return conv(st)
		}, nil
	}
	return nil, nil, fmt.Errorf("%sschema type %s has no Parquet form", at(path), s.Type)
}

func parquetGroup(s *plugins.Schema, path string) (orderedGroup, func(*plugins.Struct) (map[string]any, error), error) {
	if len(s.Fields) == 0 {
		return nil, nil, fmt.Errorf("%sa struct without fields has no Parquet form", at(path))
	}
	g := make(orderedGroup, len(s.Fields))
	convs := make([]pconv, len(s.Fields))
	for i, f := range s.Fields {
		n, conv, err := boxedNode(f.Schema, joinPath(path, f.Name))
		if err != nil {
			return nil, nil, err
		}
		g[i] = orderedField{Node: n, name: f.Name}
		convs[i] = conv
	}
	return g, func(st *plugins.Struct) (map[string]any, error) {
		ss := st.Schema()
		if !sameFields(ss, s) {
			return nil, fmt.Errorf("%sa struct of schema %s where %s is expected", at(path), ss, s)
		}
		out := make(map[string]any, len(ss.Fields))
		for i := range ss.Fields {
			x, err := convs[i](st.GetField(&ss.Fields[i]))
			if err != nil {
				return nil, err
			}
			out[ss.Fields[i].Name] = x
		}
		return out, nil
	}, nil
}

// parquetFlat is the row writer of a struct whose fields are all leaves
// (primitives and logical types), nil for any other: it converts the
// fields as parquetGroup's converter does (the same checks and errors)
// and makes each a column value of the row, field i in column i
// (orderedGroup keeps the field order), definition level 1 for a present
// optional value. The map and parquet-go's reflection over it, a map per
// record and a boxed lookup per field, were most of the Parquet rows'
// encoding CPU; the bytes of the file are the same
// (TestParquetFlatSameBytes).
func parquetFlat(s *plugins.Schema) func(*plugins.Struct, parquet.Row) (parquet.Row, error) {
	convs := make([]pconv, len(s.Fields))
	for i, f := range s.Fields {
		switch f.Schema.Type {
		case plugins.TypeArray, plugins.TypeMap, plugins.TypeStruct:
			return nil
		}
		_, conv, err := parquetNode(f.Schema, joinPath("", f.Name))
		if err != nil {
			return nil
		}
		convs[i] = conv
	}
	return func(st *plugins.Struct, row parquet.Row) (parquet.Row, error) {
		ss := st.Schema()
		if !sameFields(ss, s) {
			return row, fmt.Errorf("a struct of schema %s where %s is expected", ss, s)
		}
		row = row[:0]
		for i := range ss.Fields {
			x, err := convs[i](st.GetField(&ss.Fields[i]))
			if err != nil {
				return row, err
			}
			if x == nil {
				row = append(row, parquet.Value{}.Level(0, 0, i))
				continue
			}
			def := 0
			if s.Fields[i].Schema.Optional {
				def = 1
			}
			row = append(row, leafValue(x).Level(0, def, i))
		}
		return row, nil
	}
}

// leafValue is parquet.ValueOf for the types parquetBase's converters
// return, without its reflection; a string's bytes are referenced, not
// copied (the column buffer copies them when the row is written).
func leafValue(x any) parquet.Value {
	switch v := x.(type) {
	case string:
		return parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(v), len(v)))
	case []byte:
		return parquet.ByteArrayValue(v)
	case int64:
		return parquet.Int64Value(v)
	case int32:
		return parquet.Int32Value(v)
	case float64:
		return parquet.DoubleValue(v)
	case float32:
		return parquet.FloatValue(v)
	case bool:
		return parquet.BooleanValue(v)
	}
	return parquet.ValueOf(x)
}

// orderedGroup is a Parquet group whose columns keep the order of the
// Connect fields: parquet.Group is a map and sorts them by name.
type orderedGroup []parquet.Field

func (g orderedGroup) ID() int                     { return 0 }
func (g orderedGroup) String() string              { return fmt.Sprintf("group(%d fields)", len(g)) }
func (g orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g orderedGroup) Optional() bool              { return false }
func (g orderedGroup) Repeated() bool              { return false }
func (g orderedGroup) Required() bool              { return true }
func (g orderedGroup) Leaf() bool                  { return false }
func (g orderedGroup) Fields() []parquet.Field     { return g }
func (g orderedGroup) Encoding() encoding.Encoding { return nil }
func (g orderedGroup) Compression() compress.Codec { return nil }
func (g orderedGroup) GoType() reflect.Type        { return reflect.TypeFor[map[string]any]() }

type orderedField struct {
	parquet.Node
	name string
}

func (f orderedField) Name() string { return f.name }

// Value reads the field from a row given as a map (the only form written
// here).
func (f orderedField) Value(base reflect.Value) reflect.Value {
	for base.Kind() == reflect.Interface || base.Kind() == reflect.Pointer {
		if base.IsNil() {
			return reflect.Value{}
		}
		base = base.Elem()
	}
	if base.Kind() != reflect.Map {
		return reflect.Value{}
	}
	return base.MapIndex(reflect.ValueOf(f.name))
}
