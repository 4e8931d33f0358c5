package main

// weir connector: manage connectors through the Kafka Connect REST API of
// a running worker (weir serve, or any Kafka Connect cluster), and apply or
// validate Strimzi KafkaConnector YAML files.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	_ "github.com/weirlog/weir/connectors/datagen" // registers its plugins for `connector validate`
	_ "github.com/weirlog/weir/connectors/elasticsearch"
	_ "github.com/weirlog/weir/connectors/file"
	_ "github.com/weirlog/weir/connectors/hdfs"
	_ "github.com/weirlog/weir/connectors/jdbc"
	_ "github.com/weirlog/weir/connectors/s3"
	"github.com/weirlog/weir/runtime"
)

const (
	defaultConnectURL = "http://127.0.0.1:8083"
	envConnectURL     = "WEIR_CONNECT_URL"
)

func init() { rootCmd.AddCommand(newConnectorCmd()) }

// connectOpts are the flags shared by the connector subcommands.
type connectOpts struct {
	url     string
	timeout time.Duration
}

func (o *connectOpts) register(cmd *cobra.Command) {
	def := os.Getenv(envConnectURL)
	if def == "" {
		def = defaultConnectURL
	}
	cmd.PersistentFlags().StringVar(&o.url, "url", def, "Connect REST API of a worker (env "+envConnectURL+")")
	cmd.PersistentFlags().DurationVar(&o.timeout, "timeout", 90*time.Second, "how long one request may take")
}

// do sends one request and decodes a JSON answer into out (when non-nil).
// Connect's {"error_code","message"} errors come back as errors.
func (o *connectOpts) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(o.url, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the Connect REST API at %s: is `weir serve` running? Point elsewhere with --url or %s (%w)", o.url, envConnectURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			return resp.StatusCode, fmt.Errorf("%s %s: %s (HTTP %d)", method, path, e.Message, resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: undecodable answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

func connPath(name string, rest ...string) string {
	return "/connectors/" + url.PathEscape(name) + strings.Join(rest, "")
}

func newConnectorCmd() *cobra.Command {
	o := &connectOpts{}
	cmd := &cobra.Command{
		Use:     "connector",
		Aliases: []string{"connectors"},
		Short:   "Manage Kafka Connect connectors (apply YAML, list, status, pause, resume, restart, delete, offsets)",
		Example: `  weir connector apply -f connectors/          # Strimzi KafkaConnector YAML, several per file
  weir connector validate -f pipeline.yaml     # offline: errors with file and line
  weir connector list
  weir connector status lines-in
  weir connector pause lines-in
  weir connector restart lines-in --include-tasks --only-failed
  weir connector offsets lines-in
  weir connector offsets lines-in --reset      # the connector must be stopped
  weir connector delete lines-in`,
	}
	o.register(cmd)
	cmd.AddCommand(
		newConnectorApplyCmd(o), newConnectorValidateCmd(), newConnectorListCmd(o), newConnectorStatusCmd(o),
		newConnectorStateCmd(o, "pause", "Pause a connector and its tasks", "PUT", "/pause"),
		newConnectorStateCmd(o, "resume", "Resume a paused or stopped connector", "PUT", "/resume"),
		newConnectorStateCmd(o, "stop", "Stop a connector: shut its tasks down, keep its config (needed before changing offsets)", "PUT", "/stop"),
		newConnectorStateCmd(o, "delete", "Delete a connector", "DELETE", ""),
		newConnectorRestartCmd(o), newConnectorOffsetsCmd(o),
	)
	return cmd
}

func newConnectorApplyCmd(o *connectOpts) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Create or update connectors from KafkaConnector YAML (or Connect JSON) files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f FILE|DIR is required")
			}
			defs, err := runtime.LoadDefinitions(file)
			if err != nil {
				return err
			}
			var errs []error
			for _, d := range defs {
				verb, err := applyOne(cmd.Context(), o, d)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: connector %s: %w", d.File, d.Line, d.Name, err))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "connector/%s %s\n", d.Name, verb)
				for _, w := range remoteKeyWarnings(cmd.Context(), o, d) {
					fmt.Fprintln(cmd.ErrOrStderr(), w.Error())
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file, or a directory of them")
	return cmd
}

func applyOne(ctx context.Context, o *connectOpts, d runtime.ConnectorDefinition) (string, error) {
	var cur struct{}
	code, err := o.do(ctx, "GET", connPath(d.Name), nil, &cur)
	exists := err == nil
	if err != nil && code != http.StatusNotFound {
		return "", err
	}
	states := map[runtime.TargetState]string{runtime.TargetStarted: "RUNNING", runtime.TargetPaused: "PAUSED", runtime.TargetStopped: "STOPPED"}
	if !exists && d.State != "" {
		body := map[string]any{"name": d.Name, "config": d.Config, "initial_state": states[d.State]}
		if _, err := o.do(ctx, "POST", "/connectors", body, nil); err != nil {
			return "", err
		}
		return "created", nil
	}
	code, err = o.do(ctx, "PUT", connPath(d.Name, "/config"), d.Config, nil)
	if err != nil {
		return "", err
	}
	verb := "configured"
	if code == http.StatusCreated {
		verb = "created"
	}
	if exists && d.State != "" {
		var st struct {
			Connector struct {
				State string `json:"state"`
			} `json:"connector"`
		}
		if _, err := o.do(ctx, "GET", connPath(d.Name, "/status"), nil, &st); err == nil && st.Connector.State != states[d.State] {
			action := map[runtime.TargetState]string{runtime.TargetStarted: "/resume", runtime.TargetPaused: "/pause", runtime.TargetStopped: "/stop"}[d.State]
			if _, err := o.do(ctx, "PUT", connPath(d.Name, action), nil, nil); err != nil {
				return "", err
			}
		}
	}
	return verb, nil
}

// remoteKeyWarnings asks the worker which keys the connector's plugin
// declares (PUT /connector-plugins/{class}/config/validate, which Kafka
// Connect answers too) and warns about the others. A worker that cannot
// answer gets no warnings: they are advice, never a reason to fail.
func remoteKeyWarnings(ctx context.Context, o *connectOpts, d runtime.ConnectorDefinition) []error {
	var infos struct {
		Configs []struct {
			Definition struct {
				Name string `json:"name"`
			} `json:"definition"`
		} `json:"configs"`
	}
	class := d.Config["connector.class"]
	if _, err := o.do(ctx, "PUT", "/connector-plugins/"+url.PathEscape(class)+"/config/validate", d.Config, &infos); err != nil {
		return nil
	}
	var known []string
	for _, c := range infos.Configs {
		if c.Definition.Name != "" {
			known = append(known, c.Definition.Name)
		}
	}
	return runtime.KeyWarnings(d, runtime.UnknownConfigKeys(d.Config, known))
}

func newConnectorValidateCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE|DIR",
		Short: "Check connector definitions offline against the plugins built into weir (errors with file and line)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return errors.New("-f FILE|DIR is required")
			}
			defs, err := runtime.LoadDefinitions(file)
			if err != nil {
				return err
			}
			// The same provider policy a `weir serve` with these variables
			// (or the matching flags) would apply.
			w, err := runtime.New(runtime.Config{
				EnvAllowlistPattern: os.Getenv("WEIR_CONNECT_ENV_ALLOWLIST_PATTERN"),
				ConfigProviderKeys:  splitComma(os.Getenv("WEIR_CONNECT_CONFIG_PROVIDER_KEYS")),
			}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				return err
			}
			var problems []string
			for _, d := range defs {
				for _, e := range w.ValidateDefinition(d) {
					problems = append(problems, e.Error())
				}
				for _, e := range w.DefinitionWarnings(d) {
					fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
				}
			}
			if len(problems) > 0 {
				for _, p := range problems {
					fmt.Fprintln(cmd.ErrOrStderr(), p)
				}
				return fmt.Errorf("%d problem(s) in %d connector definition(s)", len(problems), len(defs))
			}
			for _, d := range defs {
				fmt.Fprintf(cmd.OutOrStdout(), "%s:%d: connector/%s is valid\n", d.File, d.Line, d.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "YAML or JSON file, or a directory of them")
	return cmd
}

type connStatus struct {
	Name      string `json:"name"`
	Type      string `json:"type"`
	Connector struct {
		State    string  `json:"state"`
		WorkerID string  `json:"worker_id"`
		Trace    *string `json:"trace"`
	} `json:"connector"`
	Tasks []struct {
		ID       int     `json:"id"`
		State    string  `json:"state"`
		WorkerID string  `json:"worker_id"`
		Trace    *string `json:"trace"`
	} `json:"tasks"`
}

// failedErr is non-nil when the connector or a task is FAILED: `weir
// connector status` then exits 1 after printing.
func (st connStatus) failedErr() error {
	var parts []string
	if st.Connector.State == "FAILED" {
		parts = append(parts, "the connector")
	}
	for _, ts := range st.Tasks {
		if ts.State == "FAILED" {
			parts = append(parts, "task "+strconv.Itoa(ts.ID))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("connector %s: %s FAILED (restart with `weir connector restart %s --include-tasks --only-failed`)", st.Name, strings.Join(parts, ", "), st.Name)
}

func newConnectorListCmd(o *connectOpts) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List connectors with their type, state and tasks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var all map[string]struct {
				Status connStatus `json:"status"`
			}
			if _, err := o.do(cmd.Context(), "GET", "/connectors?expand=status", nil, &all); err != nil {
				return err
			}
			names := make([]string, 0, len(all))
			for n := range all {
				names = append(names, n)
			}
			sort.Strings(names)
			t := newTable(cmd.OutOrStdout(), "NAME", "TYPE", "STATE", "TASKS", "WORKER")
			for _, n := range names {
				st := all[n].Status
				running := 0
				for _, ts := range st.Tasks {
					if ts.State == "RUNNING" {
						running++
					}
				}
				t.row(n, st.Type, st.Connector.State, fmt.Sprintf("%d/%d running", running, len(st.Tasks)), st.Connector.WorkerID)
			}
			return t.flush()
		},
	}
}

func newConnectorStatusCmd(o *connectOpts) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status NAME",
		Short: "Show a connector's and its tasks' states (with failure traces)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw json.RawMessage
			if _, err := o.do(cmd.Context(), "GET", connPath(args[0], "/status"), nil, &raw); err != nil {
				return err
			}
			var st connStatus
			if err := json.Unmarshal(raw, &st); err != nil {
				return err
			}
			if asJSON {
				fmt.Fprintln(cmd.OutOrStdout(), string(raw))
				return st.failedErr()
			}
			t := newTable(cmd.OutOrStdout(), "", "STATE", "WORKER")
			t.row("connector "+st.Name+" ("+st.Type+")", st.Connector.State, st.Connector.WorkerID)
			for _, ts := range st.Tasks {
				t.row("task "+strconv.Itoa(ts.ID), ts.State, ts.WorkerID)
			}
			if err := t.flush(); err != nil {
				return err
			}
			if st.Connector.Trace != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "\nconnector trace:\n%s\n", *st.Connector.Trace)
			}
			for _, ts := range st.Tasks {
				if ts.Trace != nil {
					fmt.Fprintf(cmd.OutOrStdout(), "\ntask %d trace:\n%s\n", ts.ID, *ts.Trace)
				}
			}
			return st.failedErr()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the REST API's JSON")
	cmd.Long = "Show a connector's and its tasks' states (with failure traces).\n\nExits 1 when the connector or any of its tasks is FAILED, so scripts and\nprobes can act on it."
	return cmd
}

func newConnectorStateCmd(o *connectOpts, use, short, method, suffix string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := o.do(cmd.Context(), method, connPath(args[0], suffix), nil, nil); err != nil {
				return err
			}
			past := map[string]string{"pause": "paused", "resume": "resumed", "stop": "stopped", "delete": "deleted"}[use]
			fmt.Fprintf(cmd.OutOrStdout(), "connector/%s %s\n", args[0], past)
			return nil
		},
	}
}

func newConnectorRestartCmd(o *connectOpts) *cobra.Command {
	var includeTasks, onlyFailed bool
	task := -1
	cmd := &cobra.Command{
		Use:   "restart NAME",
		Short: "Restart a connector (and its tasks with --include-tasks), or one task with --task",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if task >= 0 {
				if _, err := o.do(cmd.Context(), "POST", connPath(args[0], "/tasks/", strconv.Itoa(task), "/restart"), nil, nil); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "connector/%s task %d restarted\n", args[0], task)
				return nil
			}
			q := fmt.Sprintf("?includeTasks=%t&onlyFailed=%t", includeTasks, onlyFailed)
			if _, err := o.do(cmd.Context(), "POST", connPath(args[0], "/restart", q), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "connector/%s restarted\n", args[0])
			return nil
		},
	}
	cmd.Flags().BoolVar(&includeTasks, "include-tasks", false, "restart the tasks too")
	cmd.Flags().BoolVar(&onlyFailed, "only-failed", false, "restart only what is FAILED")
	cmd.Flags().IntVar(&task, "task", -1, "restart only this task")
	return cmd
}

func newConnectorOffsetsCmd(o *connectOpts) *cobra.Command {
	var reset bool
	var set string
	cmd := &cobra.Command{
		Use:   "offsets NAME",
		Short: "Show a connector's offsets; --reset or --set them (the connector must be stopped)",
		Example: `  weir connector offsets lines-in
  weir connector stop lines-in
  weir connector offsets lines-in --set '{"offsets":[{"partition":{"filename":"connect-files/in.txt"},"offset":{"position":0}}]}'
  weir connector offsets lines-in --reset
  weir connector resume lines-in`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var msg struct {
				Message string `json:"message"`
			}
			switch {
			case reset && set != "":
				return errors.New("--reset and --set exclude each other")
			case reset:
				if _, err := o.do(cmd.Context(), "DELETE", connPath(args[0], "/offsets"), nil, &msg); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg.Message)
				return nil
			case set != "":
				body := []byte(set)
				if !strings.HasPrefix(strings.TrimSpace(set), "{") {
					b, err := os.ReadFile(set)
					if err != nil {
						return fmt.Errorf("--set: neither JSON nor a readable file: %w", err)
					}
					body = b
				}
				var v any
				if err := json.Unmarshal(body, &v); err != nil {
					return fmt.Errorf("--set: invalid JSON: %w", err)
				}
				if _, err := o.do(cmd.Context(), "PATCH", connPath(args[0], "/offsets"), v, &msg); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), msg.Message)
				return nil
			}
			var raw json.RawMessage
			if _, err := o.do(cmd.Context(), "GET", connPath(args[0], "/offsets"), nil, &raw); err != nil {
				return err
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "", "  "); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pretty.String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&reset, "reset", false, "delete every offset (sources re-read from the start; sinks' group is deleted)")
	cmd.Flags().StringVar(&set, "set", "", "PATCH offsets from JSON or a JSON file ({\"offsets\":[{\"partition\":{...},\"offset\":{...}}]})")
	return cmd
}
