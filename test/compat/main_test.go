package compat_test

import (
	"os"
	"testing"

	"github.com/weirlog/weir/test/compat/harness"
)

func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// interrupt stops a kcat consumer the way Ctrl-C does: it closes the
// consumer cleanly (final commit, LeaveGroup).
var interrupt = os.Interrupt
