package main

// weir topic: create, list, describe, alter and delete topics on any
// Kafka-compatible cluster, like kafka-topics.sh / kafka-configs.sh.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { rootCmd.AddCommand(newTopicCmd()) }

func newTopicCmd() *cobra.Command {
	var co clusterOpts
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Example: `  weir topic create orders --partitions 3 --config retention.ms=86400000
  weir topic list
  weir topic describe orders
  weir topic alter orders --partitions 6 --config cleanup.policy=compact
  weir topic delete orders`,
	}
	co.register(cmd)
	cmd.AddCommand(newTopicCreateCmd(&co), newTopicListCmd(&co), newTopicDescribeCmd(&co),
		newTopicAlterCmd(&co), newTopicDeleteCmd(&co))
	return cmd
}

func newTopicCreateCmd(co *clusterOpts) *cobra.Command {
	var (
		partitions  int32
		rf          int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kvs, err := parseKVs("config", configs)
			if err != nil {
				return err
			}
			cfg := make(map[string]*string, len(kvs))
			for _, kv := range kvs {
				v := kv[1]
				cfg[kv[0]] = &v
			}
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.CreateTopics(ctx, partitions, rf, cfg, args...)
			if err != nil {
				return explain("create topics", err)
			}
			var errs []error
			for _, t := range args {
				r, ok := resps[t]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("create topic %q: no response from broker", t))
				case errors.Is(r.Err, kerr.TopicAlreadyExists) && ifNotExists:
					fmt.Fprintf(cmd.OutOrStdout(), "Topic %s already exists.\n", t)
				case r.Err != nil:
					errs = append(errs, explain(fmt.Sprintf("create topic %q", t), kerrMessage(r.Err, r.ErrMessage)))
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "Created topic %s (partitions: %d, replication factor: %d).\n",
						t, r.NumPartitions, r.ReplicationFactor)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().Int32VarP(&partitions, "partitions", "p", -1, "number of partitions (-1: the broker's num.partitions)")
	cmd.Flags().Int16VarP(&rf, "replication-factor", "r", -1, "replicas per partition (-1: the broker's default.replication.factor)")
	cmd.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable), e.g. retention.ms=86400000")
	cmd.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "succeed if the topic already exists")
	return cmd
}

func newTopicListCmd(co *clusterOpts) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics with their partition and replica counts",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var tds kadm.TopicDetails
			if internal {
				tds, err = adm.ListTopicsWithInternal(ctx)
			} else {
				tds, err = adm.ListTopics(ctx)
			}
			if err != nil {
				return explain("list topics", err)
			}
			t := newTable(cmd.OutOrStdout(), "TOPIC", "PARTITIONS", "REPLICAS")
			for _, name := range tds.Names() {
				td := tds[name]
				if td.Err != nil {
					t.row(name, "error: "+td.Err.Error(), "")
					continue
				}
				t.row(name, len(td.Partitions), td.Partitions.NumReplicas())
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics such as __consumer_offsets")
	return cmd
}

func newTopicDescribeCmd(co *clusterOpts) *cobra.Command {
	var allConfigs bool
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Show a topic's partitions (leader, replicas, ISR, offsets) and configs",
		Long: `Show each topic's partitions with leader, replicas, in-sync replicas and the
first and next offsets, followed by the configs set on the topic (all configs,
with their source, with --all-configs). Without arguments describes every topic.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			tds, err := adm.ListTopics(ctx, args...)
			if err != nil {
				return explain("describe topics", err)
			}
			names := tds.Names()
			if len(args) > 0 {
				names = args
			}
			var (
				errs  []error
				found []string
			)
			for _, n := range names {
				td, ok := tds[n]
				if !ok || td.Err != nil {
					var e error = kerr.UnknownTopicOrPartition
					if ok && td.Err != nil {
						e = asKerr(td.Err)
					}
					errs = append(errs, explain(fmt.Sprintf("describe topic %q", n), e))
					continue
				}
				found = append(found, n)
			}
			if len(found) == 0 {
				return errors.Join(errs...)
			}
			starts, err := adm.ListStartOffsets(ctx, found...)
			if err != nil {
				return explain("list start offsets", err)
			}
			ends, err := adm.ListEndOffsets(ctx, found...)
			if err != nil {
				return explain("list end offsets", err)
			}
			cfgs, err := adm.DescribeTopicConfigs(ctx, found...)
			if err != nil {
				return explain("describe topic configs", err)
			}
			out := cmd.OutOrStdout()
			for i, n := range found {
				td := tds[n]
				if i > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "Topic: %s  ID: %s  Partitions: %d  Replication factor: %d\n",
					n, base64.RawURLEncoding.EncodeToString(td.ID[:]), len(td.Partitions), td.Partitions.NumReplicas())
				t := newTable(out, "  PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "START", "END", "MESSAGES")
				for _, p := range td.Partitions.Sorted() {
					s, _ := starts.Lookup(n, p.Partition)
					e, _ := ends.Lookup(n, p.Partition)
					msgs := "?"
					if s.Err == nil && e.Err == nil {
						msgs = fmt.Sprint(e.Offset - s.Offset)
					}
					t.row(fmt.Sprintf("  %d", p.Partition), p.Leader, p.LeaderEpoch,
						joinInt32s(p.Replicas), joinInt32s(p.ISR), offsetOrErr(s), offsetOrErr(e), msgs)
				}
				if err := t.flush(); err != nil {
					return err
				}
				// A partition the broker cannot serve (its log did not
				// open, or went offline after a storage failure) says so.
				for _, p := range td.Partitions.Sorted() {
					if p.Err != nil {
						fmt.Fprintf(out, "  partition %d unavailable: %v\n", p.Partition, p.Err)
					}
				}
				rc, err := cfgs.On(n, nil)
				if err != nil || rc.Err != nil {
					fmt.Fprintf(out, "Configs: unavailable (%v)\n", errors.Join(err, rc.Err))
					continue
				}
				printConfigs(out, rc.Configs, allConfigs)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&allConfigs, "all-configs", false, "show every config with its source, not only those set on the topic")
	return cmd
}

// asKerr keeps Kafka errors typed so explain can match them.
func asKerr(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return err
}

func offsetOrErr(o kadm.ListedOffset) string {
	if o.Err != nil {
		return "error"
	}
	return fmt.Sprint(o.Offset)
}

func printConfigs(out io.Writer, cs []kadm.Config, all bool) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Key < cs[j].Key })
	var shown []kadm.Config
	for _, c := range cs {
		if all || c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			shown = append(shown, c)
		}
	}
	if len(shown) == 0 {
		fmt.Fprintln(out, "Configs: (none set on the topic; --all-configs shows defaults)")
		return
	}
	fmt.Fprintln(out, "Configs:")
	t := newTable(out)
	for _, c := range shown {
		v := c.MaybeValue()
		if c.Sensitive {
			v = "(sensitive)"
		}
		if all {
			t.row("  "+c.Key, v, configSource(c.Source))
		} else {
			t.row("  "+c.Key, v)
		}
	}
	t.flush()
}

func configSource(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceStaticBrokerConfig:
		return "broker"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	}
	return strings.ToLower(s.String())
}

func newTopicAlterCmd(co *clusterOpts) *cobra.Command {
	var (
		partitions int
		set        []string
		del        []string
	)
	cmd := &cobra.Command{
		Use:   "alter TOPIC...",
		Short: "Add partitions and set or remove topic configs",
		Example: `  weir topic alter orders --partitions 6
  weir topic alter orders --config retention.ms=3600000 --delete-config cleanup.policy`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kvs, err := parseKVs("config", set)
			if err != nil {
				return err
			}
			if partitions <= 0 && len(kvs) == 0 && len(del) == 0 {
				return errors.New("nothing to alter: give --partitions, --config or --delete-config")
			}
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			out := cmd.OutOrStdout()
			var errs []error
			if partitions > 0 {
				resps, err := adm.UpdatePartitions(ctx, partitions, args...)
				if err != nil {
					return explain("alter partitions", err)
				}
				for _, t := range args {
					r, ok := resps[t]
					switch {
					case !ok:
						errs = append(errs, fmt.Errorf("alter partitions of %q: no response from broker", t))
					case r.Err != nil:
						errs = append(errs, explain(fmt.Sprintf("set partitions of %q to %d (partitions can only grow)", t, partitions),
							kerrMessage(r.Err, r.ErrMessage)))
					default:
						fmt.Fprintf(out, "Topic %s now has %d partitions.\n", t, partitions)
					}
				}
			}
			if len(kvs) > 0 || len(del) > 0 {
				var alters []kadm.AlterConfig
				for _, kv := range kvs {
					v := kv[1]
					alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: &v})
				}
				for _, k := range del {
					alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
				}
				resps, err := adm.AlterTopicConfigs(ctx, alters, args...)
				if err != nil {
					return explain("alter topic configs", err)
				}
				for _, t := range args {
					r, err := resps.On(t, nil)
					switch {
					case err != nil:
						errs = append(errs, fmt.Errorf("alter configs of %q: no response from broker", t))
					case r.Err != nil:
						errs = append(errs, explain(fmt.Sprintf("alter configs of %q", t), kerrMessage(r.Err, r.ErrMessage)))
					default:
						fmt.Fprintf(out, "Updated configs of topic %s.\n", t)
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().IntVarP(&partitions, "partitions", "p", 0, "new total number of partitions (can only grow)")
	cmd.Flags().StringArrayVarP(&set, "config", "c", nil, "set topic config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete-config", nil, "remove a topic config override, reverting to the broker default (repeatable)")
	return cmd
}

func newTopicDeleteCmd(co *clusterOpts) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:     "delete TOPIC...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their data",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := co.admin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			return deleteTopics(ctx, cmd, adm, ifExists, args)
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed if a topic does not exist")
	return cmd
}

func deleteTopics(ctx context.Context, cmd *cobra.Command, adm *kadm.Client, ifExists bool, topics []string) error {
	resps, err := adm.DeleteTopics(ctx, topics...)
	if err != nil {
		return explain("delete topics", err)
	}
	var errs []error
	for _, t := range topics {
		r, ok := resps[t]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("delete topic %q: no response from broker", t))
		case errors.Is(r.Err, kerr.UnknownTopicOrPartition) && ifExists:
			fmt.Fprintf(cmd.OutOrStdout(), "Topic %s does not exist.\n", t)
		case r.Err != nil:
			errs = append(errs, explain(fmt.Sprintf("delete topic %q", t), kerrMessage(r.Err, r.ErrMessage)))
		default:
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted topic %s.\n", t)
		}
	}
	return errors.Join(errs...)
}
