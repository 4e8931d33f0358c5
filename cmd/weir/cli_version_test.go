package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirlog/weir/core/broker"
	"github.com/weirlog/weir/core/broker/brokertest"
	"github.com/weirlog/weir/internal/buildinfo"
)

// TestProduceCreatesMissingTopic: weir produce asks the cluster to create
// a missing topic, as kcat and kafka-console-producer do.
func TestProduceCreatesMissingTopic(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "fresh")
	_, errOut, err := runCLI(t, addr, "a\nb\n", "produce", topic)
	if err != nil {
		t.Fatalf("produce to a missing topic on a cluster that auto-creates: %v\n%s", err, errOut)
	}
	if got := mustCLI(t, addr, "", "consume", topic, "--from-beginning", "-n", "2", "--idle-timeout", "10s"); got != "a\nb\n" {
		t.Fatalf("consumed %q", got)
	}
}

// TestProduceMissingTopicWithoutAutoCreate: on a cluster that does not
// create topics, the error says how to create it.
func TestProduceMissingTopicWithoutAutoCreate(t *testing.T) {
	b := brokertest.StartWith(t, func(c *broker.Config) { c.AutoCreateTopics = false })
	_, _, err := runCLI(t, b.Addr(), "a\n", "produce", "nothere", "--timeout", "10s")
	if err == nil || !strings.Contains(err.Error(), "weir topic create nothere") || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("produce to a missing topic without auto-creation: %v", err)
	}
}

// TestProduceTombstones: --null-marker and -Z send null values
// (tombstones) and null keys.
func TestProduceTombstones(t *testing.T) {
	addr := startBroker(t)
	topic := uniqueName(t, "tomb")
	mustCLI(t, addr, "", "topic", "create", topic, "--partitions", "1")
	mustCLI(t, addr, "k1:v1\nk1:NULL\nNULL:v2\n", "produce", topic, "--key-separator", ":", "--null-marker", "NULL", "-q")
	mustCLI(t, addr, "k2:\n:v3\n", "produce", topic, "--key-separator", ":", "-Z", "-q")
	mustCLI(t, addr, "\n", "produce", topic, "--empty-as-null", "-q")
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < 6 && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
	}
	if len(recs) != 6 {
		t.Fatalf("got %d records", len(recs))
	}
	type kv struct{ k, v *string }
	str := func(b []byte) *string {
		if b == nil {
			return nil
		}
		s := string(b)
		return &s
	}
	show := func(p *string) string {
		if p == nil {
			return "<null>"
		}
		return *p
	}
	want := []string{"k1=v1", "k1=<null>", "<null>=v2", "k2=<null>", "<null>=v3", "<null>=<null>"}
	for i, r := range recs {
		got := kv{str(r.Key), str(r.Value)}
		if s := show(got.k) + "=" + show(got.v); s != want[i] {
			t.Errorf("record %d: %s, want %s", i, s, want[i])
		}
	}
}

// TestVersionAndMistypedSubcommands: weir version / --version report the
// build; a mistyped subcommand of any command group exits non-zero with a
// suggestion instead of printing help.
func TestVersionAndMistypedSubcommands(t *testing.T) {
	run := func(args ...string) (string, error) {
		root := &cobra.Command{Use: "weir", SilenceUsage: true, SilenceErrors: true}
		addVersionFlag(root)
		root.AddCommand(newVersionCmd(), newTopicCmd(), newConnectorCmd(), newGroupCmd(), newProduceCmd())
		refuseUnknownSubcommands(root)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		out, err := run(args...)
		if err != nil || !strings.HasPrefix(out, "weir "+buildinfo.Version()+" (commit "+buildinfo.Commit()) {
			t.Fatalf("weir %s: %q %v", args[0], out, err)
		}
	}
	for _, c := range []struct{ args, suggestion string }{
		{"topic lst", "list"}, {"connector stauts x", "status"}, {"group descrbe g", "describe"}, {"prodce x", "produce"},
	} {
		_, err := run(strings.Fields(c.args)...)
		if err == nil || !strings.Contains(err.Error(), "unknown command") || !strings.Contains(err.Error(), "Did you mean this?\n\t"+c.suggestion) {
			t.Errorf("weir %s: error %v, want an unknown-command error suggesting %s", c.args, err, c.suggestion)
		}
	}
	if out, err := run("topic"); err != nil || !strings.Contains(out, "Available Commands") {
		t.Fatalf("bare group command: %q %v", out, err)
	}
}
