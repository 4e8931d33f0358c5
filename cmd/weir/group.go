package main

// weir group: list, describe (members, offsets, lag), reset offsets and
// delete consumer groups, like kafka-consumer-groups.sh.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func init() { rootCmd.AddCommand(newGroupCmd()) }

func newGroupCmd() *cobra.Command {
	var co clusterOpts
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups"},
		Short:   "List, describe, reset offsets of and delete consumer groups",
		Example: `  weir group list
  weir group describe billing
  weir group reset-offsets billing --topic orders --to-earliest            # dry run
  weir group reset-offsets billing --topic orders --to-earliest --execute
  weir group delete billing`,
	}
	co.register(cmd)
	cmd.AddCommand(newGroupListCmd(&co), newGroupDescribeCmd(&co), newGroupResetCmd(&co), newGroupDeleteCmd(&co))
	return cmd
}

func newGroupListCmd(co *clusterOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			gs, err := adm.ListGroups(ctx)
			if err != nil {
				return explain("list groups", err)
			}
			t := newTable(cmd.OutOrStdout(), "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
			for _, g := range gs.Sorted() {
				t.row(g.Group, orDash(g.State), orDash(g.ProtocolType), g.Coordinator)
			}
			return t.flush()
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDescribeCmd(co *clusterOpts) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, args...)
			if err != nil {
				return explain("describe groups", err)
			}
			out := cmd.OutOrStdout()
			var errs []error
			for i, g := range args {
				l, ok := lags[g]
				if !ok {
					errs = append(errs, fmt.Errorf("describe group %q: no response from broker", g))
					continue
				}
				if err := l.Error(); err != nil {
					errs = append(errs, explain(fmt.Sprintf("describe group %q", g), err))
					continue
				}
				if i > 0 {
					fmt.Fprintln(out)
				}
				if l.State == "Dead" && l.Lag.IsEmpty() {
					fmt.Fprintf(out, "Group %s does not exist (no members, no committed offsets).\n", g)
					continue
				}
				fmt.Fprintf(out, "Group: %s  State: %s  Protocol: %s/%s  Coordinator: %d (%s:%d)  Members: %d  Total lag: %d\n",
					g, orDash(l.State), orDash(l.ProtocolType), orDash(l.Protocol),
					l.Coordinator.NodeID, l.Coordinator.Host, l.Coordinator.Port, len(l.Members), l.Lag.Total())
				t := newTable(out, "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
				for _, ml := range l.Lag.Sorted() {
					cur, lag := "-", "-"
					if ml.Commit.At >= 0 {
						cur = strconv.FormatInt(ml.Commit.At, 10)
					}
					if ml.Lag >= 0 {
						lag = strconv.FormatInt(ml.Lag, 10)
					}
					end := "-"
					if ml.End.Err == nil {
						end = strconv.FormatInt(ml.End.Offset, 10)
					}
					member, host, client := "-", "-", "-"
					if ml.Member != nil {
						member, host, client = ml.Member.MemberID, ml.Member.ClientHost, ml.Member.ClientID
					}
					t.row(ml.Topic, ml.Partition, cur, end, lag, member, host, client)
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			return errors.Join(errs...)
		},
	}
}

// resetSpec is how reset-offsets picks the new offset of each partition.
type resetSpec struct {
	earliest, latest bool
	toOffset         int64
	toDatetime       string
	shiftBy          int64
}

func newGroupResetCmd(co *clusterOpts) *cobra.Command {
	var (
		topics    []string
		allTopics bool
		execute   bool
		dryRun    bool
		spec      resetSpec
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Move a group's committed offsets (dry run unless --execute)",
		Long: `Compute new committed offsets for a group and print them next to the current
ones. Nothing changes unless --execute is given, as with kafka-consumer-groups.sh.
The group must have no active members when executing.

Choose partitions with --topic TOPIC (all partitions) or --topic TOPIC:0,2, or
--all-topics (every topic the group has committed offsets for), and one of
--to-earliest, --to-latest, --to-offset N, --to-datetime TIME or --shift-by N.
Offsets outside a partition's current range are clamped into it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			group := args[0]
			n := 0
			for _, set := range []bool{spec.earliest, spec.latest, cmd.Flags().Changed("to-offset"),
				spec.toDatetime != "", cmd.Flags().Changed("shift-by")} {
				if set {
					n++
				}
			}
			if n != 1 {
				return errors.New("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime, --shift-by")
			}
			if (len(topics) > 0) == allTopics {
				return errors.New("give --topic TOPIC[:PARTITIONS] (repeatable) or --all-topics")
			}
			if execute && dryRun {
				return errors.New("--dry-run and --execute contradict each other")
			}
			var (
				at     int64
				hasAt  = cmd.Flags().Changed("to-offset")
				shift  = cmd.Flags().Changed("shift-by")
				atTime bool
			)
			switch {
			case hasAt:
				at = spec.toOffset
			case spec.toDatetime != "":
				t, err := parseTime(spec.toDatetime)
				if err != nil {
					return fmt.Errorf("--to-datetime: %w", err)
				}
				at, atTime = t.UnixMilli(), true
			}
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return resetOffsets(ctx, cmd, adm, group, topics, allTopics, spec, at, hasAt, atTime, shift, execute)
		},
	}
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "TOPIC or TOPIC:P1,P2 to reset (repeatable)")
	cmd.Flags().BoolVar(&allTopics, "all-topics", false, "reset every topic the group has committed offsets for")
	cmd.Flags().BoolVar(&spec.earliest, "to-earliest", false, "reset to the earliest available offset")
	cmd.Flags().BoolVar(&spec.latest, "to-latest", false, "reset to the end of each partition")
	cmd.Flags().Int64Var(&spec.toOffset, "to-offset", 0, "reset to this offset")
	cmd.Flags().StringVar(&spec.toDatetime, "to-datetime", "", "reset to the first offset at or after this time (RFC 3339 or Unix ms)")
	cmd.Flags().Int64Var(&spec.shiftBy, "shift-by", 0, "move each committed offset by N (negative: back)")
	cmd.Flags().BoolVar(&execute, "execute", false, "apply the new offsets (default: only show them)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "only show the new offsets (the default)")
	return cmd
}

func resetOffsets(ctx context.Context, cmd *cobra.Command, adm *kadm.Client, group string, topicArgs []string,
	allTopics bool, spec resetSpec, at int64, hasAt, atTime, shift, execute bool) error {
	current, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return explain(fmt.Sprintf("fetch committed offsets of group %q", group), err)
	}
	// Which partitions.
	want := make(kadm.TopicsSet)
	if allTopics {
		current.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil {
				want.Add(o.Topic, o.Partition)
			}
		})
		if len(want) == 0 {
			return fmt.Errorf("group %q has no committed offsets; name topics with --topic", group)
		}
	} else {
		var names []string
		explicit := make(map[string][]int32)
		for _, ta := range topicArgs {
			name, parts, hasParts := strings.Cut(ta, ":")
			names = append(names, name)
			if !hasParts {
				continue
			}
			for _, p := range strings.Split(parts, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
				if err != nil {
					return fmt.Errorf("--topic %q: partitions must be numbers, e.g. orders:0,1", ta)
				}
				explicit[name] = append(explicit[name], int32(n))
			}
		}
		tds, err := adm.ListTopics(ctx, names...)
		if err != nil {
			return explain("look up topics", err)
		}
		for _, name := range names {
			td, ok := tds[name]
			if !ok || td.Err != nil {
				return explain(fmt.Sprintf("reset offsets of topic %q", name), kerr.UnknownTopicOrPartition)
			}
			if ps, ok := explicit[name]; ok {
				for _, p := range ps {
					if _, ok := td.Partitions[p]; !ok {
						return fmt.Errorf("topic %q has no partition %d (it has %d)", name, p, len(td.Partitions))
					}
				}
				want.Add(name, ps...)
			} else {
				for p := range td.Partitions {
					want.Add(name, p)
				}
			}
		}
	}
	topics := want.Topics()
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return explain("list start offsets", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return explain("list end offsets", err)
	}
	var byTime kadm.ListedOffsets
	if atTime {
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, at, topics...); err != nil {
			return explain("list offsets by time", err)
		}
	}
	type row struct {
		topic    string
		part     int32
		cur, new int64
	}
	var rows []row
	newOffsets := make(kadm.Offsets)
	for _, tp := range want.Sorted() {
		for _, p := range tp.Partitions {
			s, sok := starts.Lookup(tp.Topic, p)
			e, eok := ends.Lookup(tp.Topic, p)
			if !sok || !eok || s.Err != nil || e.Err != nil {
				return fmt.Errorf("list offsets of %s[%d]: %v", tp.Topic, p, errors.Join(s.Err, e.Err))
			}
			cur := int64(-1)
			if c, ok := current.Lookup(tp.Topic, p); ok && c.Err == nil {
				cur = c.At
			}
			var n int64
			switch {
			case spec.earliest:
				n = s.Offset
			case spec.latest:
				n = e.Offset
			case hasAt:
				n = at
			case atTime:
				n = e.Offset
				if o, ok := byTime.Lookup(tp.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
					n = o.Offset
				}
			case shift:
				if cur < 0 {
					return fmt.Errorf("%s[%d] has no committed offset to shift; use --to-offset or --to-earliest", tp.Topic, p)
				}
				n = cur + spec.shiftBy
			}
			n = max(s.Offset, min(n, e.Offset))
			rows = append(rows, row{tp.Topic, p, cur, n})
			newOffsets.Add(kadm.Offset{Topic: tp.Topic, Partition: p, At: n, LeaderEpoch: -1})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].topic != rows[j].topic {
			return rows[i].topic < rows[j].topic
		}
		return rows[i].part < rows[j].part
	})
	out := cmd.OutOrStdout()
	if execute {
		dg, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return explain(fmt.Sprintf("describe group %q", group), err)
		}
		if d, ok := dg[group]; ok && d.Err == nil && len(d.Members) > 0 {
			return fmt.Errorf("group %q has %d active member(s) (state %s): stop its consumers, then run this again",
				group, len(d.Members), d.State)
		}
		resps, err := adm.CommitOffsets(ctx, group, newOffsets)
		if err != nil {
			return explain(fmt.Sprintf("commit offsets of group %q", group), err)
		}
		if err := resps.Error(); err != nil {
			return explain(fmt.Sprintf("commit offsets of group %q", group), err)
		}
	}
	t := newTable(out, "TOPIC", "PARTITION", "CURRENT-OFFSET", "NEW-OFFSET")
	for _, r := range rows {
		cur := "-"
		if r.cur >= 0 {
			cur = strconv.FormatInt(r.cur, 10)
		}
		t.row(r.topic, r.part, cur, r.new)
	}
	if err := t.flush(); err != nil {
		return err
	}
	if execute {
		fmt.Fprintf(out, "Committed new offsets for group %s.\n", group)
	} else {
		fmt.Fprintln(out, "Dry run: nothing changed. Add --execute to commit these offsets.")
	}
	return nil
}

func newGroupDeleteCmd(co *clusterOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return explain("delete groups", err)
			}
			var errs []error
			for _, g := range args {
				r, ok := resps[g]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("delete group %q: no response from broker", g))
				case r.Err != nil:
					errs = append(errs, explain(fmt.Sprintf("delete group %q", g), kerrMessage(r.Err, r.ErrMessage)))
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "Deleted group %s.\n", g)
				}
			}
			return errors.Join(errs...)
		},
	}
}
