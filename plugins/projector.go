package plugins

import (
	"fmt"
	"maps"
	"strconv"
)

// ProjectionError is returned by Project when a value cannot take the
// target schema (Kafka Connect's SchemaProjectorException). Path says
// where: "address.zip", "tags[2]", "attrs[\"k\"]", "attrs[key 5]"; it
// is empty for the value itself.
type ProjectionError struct {
	Path   string
	Reason string
}

func (e *ProjectionError) Error() string {
	if e.Path == "" {
		return "schema projection: " + e.Reason
	}
	return "schema projection: " + e.Path + ": " + e.Reason
}

// under puts e below seg (a field name or an [index]) of the value that
// contains it, so that the path reads from the outermost value in.
func (e *ProjectionError) under(seg string) *ProjectionError {
	switch {
	case e.Path == "":
		e.Path = seg
	case e.Path[0] == '[':
		e.Path = seg + e.Path
	default:
		e.Path = seg + "." + e.Path
	}
	return e
}

func projErr(format string, a ...any) *ProjectionError {
	return &ProjectionError{Reason: fmt.Sprintf(format, a...)}
}

// Project converts v, a value of schema source, into a value of schema
// target, as Kafka Connect's SchemaProjector.project does; storage sinks
// use it to write a record of another schema version into a file bound
// to one schema. The rules:
//
//   - The types must be equal, or source numeric and target a wider one
//     (INT8 → INT16 → INT32 → INT64 → FLOAT32 → FLOAT64); the values are
//     converted. Names must be equal and so must parameters, so logical
//     types (Decimal and its scale, Date, Time, Timestamp) project only to
//     themselves, their values unchanged. Versions and docs may differ:
//     telling versions apart is what projection is for.
//   - An optional source projects to a required target only when the
//     target has a default, which then replaces nil.
//   - A STRUCT takes the target's fields in the target's order: a field
//     the source has is projected (a nil value counts as the source
//     field's default, as Struct.Get says); a field it lacks gets the
//     target field's default, or stays nil when optional, else is an
//     error. Source fields the target lacks are dropped.
//   - ARRAY elements and MAP keys and values are projected one by one.
//
// v itself is not changed; a value needing no conversion (a primitive,
// a logical value) is returned as is, and the containers Project builds
// may share such values with v. Errors are *ProjectionError.
func Project(source *Schema, v any, target *Schema) (any, error) {
	out, err := project(source, v, target)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// project returns *ProjectionError rather than error so that callers
// can add their place to the path without unwrapping.
func project(source *Schema, v any, target *Schema) (any, *ProjectionError) {
	if err := checkMaybeCompatible(source, target); err != nil {
		return nil, err
	}
	if source.Optional && !target.Optional {
		// Decided by the schemas, not by this value: a required target
		// must be able to stand in for every nil the source allows.
		if target.Default == nil {
			return nil, projErr("the source schema %s is optional and the required target schema %s has no default", source, target)
		}
		if v == nil {
			return target.Default, nil
		}
	}
	if v == nil {
		return nil, nil
	}
	switch target.Type {
	case TypeStruct:
		return projectStruct(source, v, target)
	case TypeArray:
		return projectArray(source, v, target)
	case TypeMap:
		return projectMap(source, v, target)
	}
	return projectPrimitive(source, v, target)
}

func checkMaybeCompatible(source, target *Schema) *ProjectionError {
	switch {
	case source == nil || target == nil:
		return projErr("cannot project between a schema and no schema (source %s, target %s)", source, target)
	case source.Type != target.Type && !promotable(source.Type, target.Type):
		return projErr("schema type mismatch: source type %s cannot become target type %s", source.Type, target.Type)
	case source.Name != target.Name:
		return projErr("schema name mismatch: source name %q, target name %q", source.Name, target.Name)
	case !maps.Equal(source.Parameters, target.Parameters):
		// maps.Equal holds nil and empty equal, as "no parameters" is.
		return projErr("schema parameters differ: source %v, target %v", source.Parameters, target.Parameters)
	}
	return nil
}

// promotable reports whether a value of numeric type from may widen to
// numeric type to; the numeric types are consecutive in Type.
func promotable(from, to Type) bool {
	return from >= TypeInt8 && from <= to && to <= TypeFloat64
}

func projectStruct(source *Schema, v any, target *Schema) (any, *ProjectionError) {
	st, ok := v.(*Struct)
	if !ok {
		return nil, projErr("the value is %T, not a *Struct of the STRUCT schema", v)
	}
	if st.schema != source && !st.schema.Equal(source) {
		return nil, projErr("the struct's own schema is not the source schema %s", source)
	}
	values := make([]any, len(target.Fields))
	for i := range target.Fields {
		tf := &target.Fields[i]
		// Versions of a schema mostly keep their fields in order: try
		// the same position before searching by name.
		var sf *Field
		if i < len(source.Fields) && source.Fields[i].Name == tf.Name {
			sf = &source.Fields[i]
		} else {
			sf = source.Field(tf.Name)
		}
		switch {
		case sf != nil:
			fv, err := project(sf.Schema, st.GetField(sf), tf.Schema)
			if err != nil {
				return nil, err.under(tf.Name)
			}
			values[i] = fv
		case tf.Schema.Default != nil:
			values[i] = tf.Schema.Default
		case tf.Schema.Optional:
			// stays nil
		default:
			return nil, projErr("required field %q is missing from the source schema %s and has no default", tf.Name, source).under(tf.Name)
		}
	}
	out, err := NewStructWith(target, values)
	if err != nil {
		// A projected value that is still invalid: the source value did
		// not match its own schema (a nil for a required field, say).
		return nil, projErr("%v", err)
	}
	return out, nil
}

func projectArray(source *Schema, v any, target *Schema) (any, *ProjectionError) {
	arr, ok := v.([]any)
	if !ok {
		return nil, projErr("the value is %T, not the []any of an ARRAY schema", v)
	}
	if source.ValueSchema == nil || target.ValueSchema == nil {
		return nil, projErr("array schema without items schema")
	}
	out := make([]any, len(arr))
	for i, e := range arr {
		pe, err := project(source.ValueSchema, e, target.ValueSchema)
		if err != nil {
			return nil, err.under("[" + strconv.Itoa(i) + "]")
		}
		out[i] = pe
	}
	return out, nil
}

func projectMap(source *Schema, v any, target *Schema) (any, *ProjectionError) {
	if source.KeySchema == nil || source.ValueSchema == nil || target.KeySchema == nil || target.ValueSchema == nil {
		return nil, projErr("map schema without key or value schema")
	}
	switch m := v.(type) {
	case map[string]any:
		// STRING keys project only to STRING keys: the map keeps its
		// Go type.
		out := make(map[string]any, len(m))
		for k, e := range m {
			pk, err := project(source.KeySchema, k, target.KeySchema)
			if err != nil {
				return nil, err.under("[key " + strconv.Quote(k) + "]")
			}
			sk, ok := pk.(string)
			if !ok {
				return nil, projErr("the key projects to %T, not a string", pk).under("[key " + strconv.Quote(k) + "]")
			}
			pv, err := project(source.ValueSchema, e, target.ValueSchema)
			if err != nil {
				return nil, err.under("[" + strconv.Quote(k) + "]")
			}
			out[sk] = pv
		}
		return out, nil
	case map[any]any:
		out := make(map[any]any, len(m))
		for k, e := range m {
			pk, err := project(source.KeySchema, k, target.KeySchema)
			if err != nil {
				return nil, err.under(fmt.Sprintf("[key %v]", k))
			}
			if _, dup := out[pk]; dup {
				// Widening is exact except for large integers becoming
				// floats; two keys merging would drop one entry, and
				// which one would depend on map order.
				return nil, projErr("two keys project to the same key %v", pk).under(fmt.Sprintf("[key %v]", k))
			}
			pv, err := project(source.ValueSchema, e, target.ValueSchema)
			if err != nil {
				return nil, err.under(fmt.Sprintf("[%v]", k))
			}
			out[pk] = pv
		}
		return out, nil
	}
	return nil, projErr("the value is %T, not the map[string]any or map[any]any of a MAP schema", v)
}

// projectPrimitive widens numbers to the target type and returns other
// values (strings, bytes, booleans, logical values such as time.Time or
// *big.Rat) as they are, as Kafka converts only a Number.
func projectPrimitive(source *Schema, v any, target *Schema) (any, *ProjectionError) {
	var (
		i     int64
		f     float64
		isInt bool
		from  Type
	)
	switch x := v.(type) {
	case int8:
		i, isInt, from = int64(x), true, TypeInt8
	case int16:
		i, isInt, from = int64(x), true, TypeInt16
	case int32:
		i, isInt, from = int64(x), true, TypeInt32
	case int64:
		i, isInt, from = x, true, TypeInt64
	case float32:
		f, from = float64(x), TypeFloat32
	case float64:
		f, from = x, TypeFloat64
	default:
		return v, nil
	}
	if from == target.Type {
		return v, nil
	}
	if !promotable(from, target.Type) {
		// The value is wider than its own schema says (source.Type was
		// checked against target.Type): narrowing could lose it.
		return nil, projErr("a %T value cannot become %s (source schema %s)", v, target.Type, source)
	}
	switch target.Type {
	case TypeInt16:
		return int16(i), nil
	case TypeInt32:
		return int32(i), nil
	case TypeInt64:
		return i, nil
	case TypeFloat32:
		if isInt {
			return float32(i), nil
		}
		return float32(f), nil
	case TypeFloat64:
		if isInt {
			return float64(i), nil
		}
		return f, nil
	}
	return nil, projErr("a %T value cannot become %s", v, target.Type)
}
