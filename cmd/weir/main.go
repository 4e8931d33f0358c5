// Command weir is the single binary: the broker (serve), the connector
// runtime, and a human CLI for any Kafka-compatible cluster. Each
// subcommand lives in its own file and registers itself in init().
package main

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weirlog/weir/internal/buildinfo"
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

func versionLine() string {
	return fmt.Sprintf("weir %s (commit %s, %s %s/%s)", buildinfo.Version(), buildinfo.Commit(), goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print weir's version and the commit it was built from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		},
	}
}

func init() {
	rootCmd.AddCommand(newVersionCmd())
	addVersionFlag(rootCmd)
}

// addVersionFlag gives root -v/--version printing versionLine. cobra's own
// (Command.Version) prints "weir version X"; changing its wording takes
// SetVersionTemplate, and one text/template executed anywhere in a binary
// makes the linker keep every exported method of every type (templates
// call methods by name through reflect): 10 MB of weir's 41, which is the
// container image (issue 15). TestBinaryKeepsNoMethodByName guards it.
func addVersionFlag(root *cobra.Command) {
	root.Flags().BoolP("version", "v", false, "print weir's version and the commit it was built from")
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if v, _ := cmd.Flags().GetBool("version"); v {
			fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return nil
		}
		return cmd.Help()
	}
}

// refuseUnknownSubcommands makes every command that only groups others
// (weir topic, weir connector, …) fail on an unknown subcommand, with
// cobra's "did you mean" suggestions, instead of printing its help and
// exiting 0: a script with a typo must not look like it worked.
func refuseUnknownSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		refuseUnknownSubcommands(c)
	}
	if !cmd.HasSubCommands() || cmd.Runnable() || !cmd.HasParent() {
		return // the root's unknown commands are cobra's own error already
	}
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
		}
		return fmt.Errorf("%s\n\nRun '%s --help' for the list of commands", msg, c.CommandPath())
	}
}

func main() {
	refuseUnknownSubcommands(rootCmd)
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "weir:", err)
		os.Exit(1)
	}
}
