// Command weir is the single binary: the broker (serve), the connector
// runtime, and a human CLI for any Kafka-compatible cluster. Each
// subcommand lives in its own file and registers itself in init().
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var rootCmd = &cobra.Command{
	Use:   "weir",
	Short: "weir: a Kafka-compatible streaming log and connector runtime in one binary",
	Long: `weir is a persistent, partitioned log that speaks the Kafka wire protocol,
with a Kafka Connect-style connector runtime around it.

Start a single node with embedded defaults:
  weir serve

Then use any Kafka client, or weir's own CLI:
  weir topic create orders --partitions 3
  echo hello | weir produce orders
  weir consume orders --from-beginning`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(1)
	}
}
