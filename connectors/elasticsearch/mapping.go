package elasticsearch

import (
	"fmt"

	"github.com/weirlog/weir/plugins"
)

// mapping is the index mapping of a value schema, as Confluent builds it:
// Decimal → double (the JSON number carries every digit; Elasticsearch
// stores a double), Date/Time/Timestamp → date (epoch milliseconds),
// strings → text with a keyword sub-field, structs → object properties,
// arrays → their items' mapping, maps → object (compact.map.entries).
func mapping(s *plugins.Schema) (map[string]any, error) {
	m, err := fieldMapping(s, 0)
	if err != nil {
		return nil, err
	}
	if _, ok := m["properties"]; !ok {
		return nil, fmt.Errorf("a %s value schema has no fields to map", s.Type)
	}
	delete(m, "type")
	return m, nil
}

func fieldMapping(s *plugins.Schema, depth int) (map[string]any, error) {
	if depth > 64 {
		return nil, fmt.Errorf("schema nested deeper than 64 levels")
	}
	switch s.Name {
	case plugins.DecimalName:
		return map[string]any{"type": "double"}, nil
	case plugins.DateName, plugins.TimeName, plugins.TimestampName:
		return map[string]any{"type": "date", "format": "strict_date_optional_time||epoch_millis"}, nil
	}
	switch s.Type {
	case plugins.TypeInt8:
		return map[string]any{"type": "byte"}, nil
	case plugins.TypeInt16:
		return map[string]any{"type": "short"}, nil
	case plugins.TypeInt32:
		return map[string]any{"type": "integer"}, nil
	case plugins.TypeInt64:
		return map[string]any{"type": "long"}, nil
	case plugins.TypeFloat32:
		return map[string]any{"type": "float"}, nil
	case plugins.TypeFloat64:
		return map[string]any{"type": "double"}, nil
	case plugins.TypeBoolean:
		return map[string]any{"type": "boolean"}, nil
	case plugins.TypeString:
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}, nil
	case plugins.TypeBytes:
		return map[string]any{"type": "binary"}, nil
	case plugins.TypeArray:
		if s.ValueSchema == nil {
			return map[string]any{"type": "object"}, nil
		}
		return fieldMapping(s.ValueSchema, depth+1)
	case plugins.TypeMap:
		if s.KeySchema != nil && s.KeySchema.Type == plugins.TypeString {
			return map[string]any{"type": "object"}, nil
		}
		// Non-string keys are written as [{key, value}] entries.
		props := map[string]any{}
		for name, sub := range map[string]*plugins.Schema{"key": s.KeySchema, "value": s.ValueSchema} {
			if sub == nil {
				continue
			}
			m, err := fieldMapping(sub, depth+1)
			if err != nil {
				return nil, err
			}
			props[name] = m
		}
		return map[string]any{"type": "object", "properties": props}, nil
	case plugins.TypeStruct:
		props := map[string]any{}
		for _, f := range s.Fields {
			m, err := fieldMapping(f.Schema, depth+1)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			props[f.Name] = m
		}
		return map[string]any{"type": "object", "properties": props}, nil
	}
	return nil, fmt.Errorf("no mapping for schema type %s", s.Type)
}
