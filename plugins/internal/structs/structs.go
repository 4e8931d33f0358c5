// Package structs gives the built-in converters and transforms beside
// package plugins raw access to a *plugins.Struct's field values, which the
// public API keeps behind validating accessors. They build structs from data
// that is already valid (a decoded, schema-checked payload, or fields copied
// from another struct), so per-field validation on the hot path would only
// cost time; plugin authors outside weir's tree use Put and Get.
//
// Package plugins sets the hooks in its init, which runs before any package
// that imports plugins can call them. Arguments are *plugins.Struct and
// *plugins.Schema, typed any only because this package cannot import plugins.
package structs

var (
	// Values returns the struct's field values, indexed like its schema's
	// fields; writes through the slice change the struct unchecked.
	Values func(st any) []any
	// SetSchema points the struct at another (equal) schema.
	SetSchema func(st, schema any)
)
