package transforms

// The chain and contract tests build chains with predicates and name
// converters as wrong-type classes, so they need those registered too.
import (
	_ "github.com/weirlog/weir/plugins/converters/jsonconv"
	_ "github.com/weirlog/weir/plugins/predicates"
)
