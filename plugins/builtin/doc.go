// Package builtin registers every plugin that ships inside package plugins'
// tree — the JSON, String and ByteArray converters, Kafka's single message
// transforms and their predicates — into plugins.Default. Import it for its
// side effect where a worker needs Kafka Connect's standard set:
//
//	import _ "github.com/weirlog/weir/plugins/builtin"
//
// Connector packages register themselves the same way and are imported
// separately, so a program chooses what it links.
package builtin

import (
	// Each package registers its plugins in init.
	_ "github.com/weirlog/weir/plugins/converters"
	_ "github.com/weirlog/weir/plugins/converters/jsonconv"
	_ "github.com/weirlog/weir/plugins/predicates"
	_ "github.com/weirlog/weir/plugins/transforms"
)
