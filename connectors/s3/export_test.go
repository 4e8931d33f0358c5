package s3

import "github.com/weirlog/weir/plugins"

// ConfigDefForTest exposes the definition to the services tests.
func ConfigDefForTest() *plugins.ConfigDef { return configDef }

// NewBackendForTest exposes the backend builder to the services tests.
var NewBackendForTest = newBackend
