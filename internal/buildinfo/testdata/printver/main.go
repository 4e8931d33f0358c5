// Command printver prints buildinfo's answers (for TestStampedVersion).
package main

import (
	"fmt"

	"github.com/weirlog/weir/internal/buildinfo"
)

func main() { fmt.Print(buildinfo.Version(), " ", buildinfo.Commit()) }
