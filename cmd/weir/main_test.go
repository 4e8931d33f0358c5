package main

import (
	"os"
	"testing"

	"github.com/weirlog/weir/connectors/file"
)

// The tests put FileStream files in t.TempDir(): allow the system's
// temporary directory, as an operator would set --connect-file-allowed-dirs.
func TestMain(m *testing.M) {
	os.Setenv(file.AllowedDirsEnv, os.TempDir())
	os.Exit(m.Run())
}
