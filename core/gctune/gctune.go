package gctune

import (
	"os"
	"runtime/debug"
	"strconv"
)

// DefaultPercent is the GOGC weir serve uses when the environment sets none.
const DefaultPercent = 200

// Apply sets the collector's percent to DefaultPercent unless GOGC is set
// in the environment (then the Go runtime has already applied it), and
// says which setting is in force, for the process's start-up log.
func Apply() string {
	if v, ok := os.LookupEnv("GOGC"); ok {
		return "GOGC=" + v + " (from the environment)"
	}
	debug.SetGCPercent(DefaultPercent)
	return "GOGC=" + strconv.Itoa(DefaultPercent) + " (weir's default; set GOGC to override)"
}
