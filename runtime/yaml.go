package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Connector definitions in files: Strimzi's KafkaConnector resource
//
//	apiVersion: kafka.strimzi.io/v1beta2
//	kind: KafkaConnector
//	metadata: {name: my-source}
//	spec:
//	  class: FileStreamSource
//	  tasksMax: 1
//	  state: running            # running | paused | stopped
//	  autoRestart: {enabled: true, maxRestarts: 10}
//	  config: {file: /tmp/in.txt, topic: lines}
//
// several per file (YAML documents separated by ---), or a plain Kafka
// Connect JSON body {"name":..., "config":{...}}. Every error names the
// file and line.

// objectMetaFields are Kubernetes' ObjectMeta fields: a manifest exported
// with kubectl carries them, and weir uses only name.
var objectMetaFields = []string{"name", "namespace", "labels", "annotations", "generateName", "uid", "resourceVersion",
	"generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers", "ownerReferences", "managedFields"}

// unsupportedFields are Strimzi KafkaConnector spec fields weir refuses
// with a pointer to what it has instead.
var unsupportedFields = map[string]string{
	"listOffsets":  "read them with `weir connector offsets NAME`",
	"alterOffsets": "set them with `weir connector offsets NAME --set` (the connector must be stopped)",
	"version":      "weir runs the one version of each plugin built into the binary",
}

// ConnectorDefinition is one connector read from a file.
type ConnectorDefinition struct {
	Name   string
	Config map[string]string
	// State is the requested target state ("" when the file does not say).
	State TargetState
	File  string
	Line  int
	// ConfigLine is the line of the config mapping (spec.config/config),
	// where a missing key is reported.
	ConfigLine int
	// KeyLines maps each config key to the line it was written on.
	KeyLines map[string]int
}

// DefinitionError is a problem at a place in a file.
type DefinitionError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *DefinitionError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var yamlPosRE = regexp.MustCompile(`^\[(\d+):(\d+)\]\s*`)

// ParseDefinitions reads the connectors in one file's bytes.
func ParseDefinitions(file string, data []byte) ([]ConnectorDefinition, error) {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		msg := yaml.FormatError(err, false, false)
		de := &DefinitionError{File: file, Msg: msg}
		if m := yamlPosRE.FindStringSubmatch(msg); m != nil {
			de.Line, _ = strconv.Atoi(m[1])
			de.Col, _ = strconv.Atoi(m[2])
			de.Msg = strings.TrimSpace(msg[len(m[0]):])
			if i := strings.IndexByte(de.Msg, '\n'); i > 0 {
				de.Msg = de.Msg[:i]
			}
		}
		return nil, de
	}
	var defs []ConnectorDefinition
	var errs []error
	for _, doc := range f.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		root, err := toYNode(file, doc.Body)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if root.kind == yNull {
			continue
		}
		d, err := definitionFrom(file, root)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		defs = append(defs, d)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(defs) == 0 {
		return nil, &DefinitionError{File: file, Msg: "no connector definitions in the file"}
	}
	return defs, nil
}

// LoadDefinitions reads a file, or every *.yaml, *.yml and *.json file in a
// directory (sorted by name).
func LoadDefinitions(path string) ([]ConnectorDefinition, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		files = nil
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".yaml", ".yml", ".json":
				if !e.IsDir() {
					files = append(files, filepath.Join(path, e.Name()))
				}
			}
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.yaml, *.yml or *.json files", path)
		}
	}
	var defs []ConnectorDefinition
	var errs []error
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ds, err := ParseDefinitions(f, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range ds {
			if prev, dup := seen[d.Name]; dup {
				errs = append(errs, &DefinitionError{File: d.File, Line: d.Line, Msg: fmt.Sprintf("connector %q is also defined at %s", d.Name, prev)})
				continue
			}
			seen[d.Name] = fmt.Sprintf("%s:%d", d.File, d.Line)
			defs = append(defs, d)
		}
	}
	return defs, errors.Join(errs...)
}

type yKind int

const (
	yNull yKind = iota
	yScalar
	yMap
	ySeq
)

type ynode struct {
	kind   yKind
	line   int
	col    int
	s      string
	keys   []string
	m      map[string]*ynode
	keyPos map[string][2]int
	seq    []*ynode
}

func pos(n ast.Node) (int, int) {
	if t := n.GetToken(); t != nil && t.Position != nil {
		return t.Position.Line, t.Position.Column
	}
	return 0, 0
}

func toYNode(file string, n ast.Node) (*ynode, error) {
	line, col := pos(n)
	y := &ynode{line: line, col: col}
	switch x := n.(type) {
	case *ast.DocumentNode:
		return toYNode(file, x.Body)
	case *ast.TagNode:
		return toYNode(file, x.Value)
	case *ast.AnchorNode:
		return toYNode(file, x.Value)
	case *ast.NullNode:
		y.kind = yNull
	case *ast.StringNode:
		y.kind, y.s = yScalar, x.Value
	case *ast.LiteralNode:
		y.kind, y.s = yScalar, x.Value.Value
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		y.kind, y.s = yScalar, n.GetToken().Value
	case *ast.MappingValueNode:
		return toYNode(file, &ast.MappingNode{BaseNode: x.BaseNode, Start: x.GetToken(), Values: []*ast.MappingValueNode{x}})
	case *ast.MappingNode:
		y.kind, y.m, y.keyPos = yMap, map[string]*ynode{}, map[string][2]int{}
		for _, mv := range x.Values {
			k, err := toYNode(file, mv.Key)
			if err != nil {
				return nil, err
			}
			if k.kind != yScalar {
				return nil, &DefinitionError{File: file, Line: k.line, Col: k.col, Msg: "mapping keys must be scalars"}
			}
			if _, dup := y.m[k.s]; dup {
				return nil, &DefinitionError{File: file, Line: k.line, Col: k.col, Msg: fmt.Sprintf("duplicate key %q", k.s)}
			}
			v, err := toYNode(file, mv.Value)
			if err != nil {
				return nil, err
			}
			y.keys = append(y.keys, k.s)
			y.m[k.s] = v
			y.keyPos[k.s] = [2]int{k.line, k.col}
		}
	case *ast.SequenceNode:
		y.kind = ySeq
		for _, v := range x.Values {
			e, err := toYNode(file, v)
			if err != nil {
				return nil, err
			}
			y.seq = append(y.seq, e)
		}
	case *ast.MappingKeyNode:
		return toYNode(file, x.Value)
	default:
		return nil, &DefinitionError{File: file, Line: line, Col: col, Msg: fmt.Sprintf("unsupported YAML construct (%s)", n.Type())}
	}
	return y, nil
}

func (y *ynode) get(k string) *ynode {
	if y == nil || y.kind != yMap {
		return nil
	}
	return y.m[k]
}

func definitionFrom(file string, root *ynode) (ConnectorDefinition, error) {
	d := ConnectorDefinition{File: file, Line: root.line, Config: map[string]string{}, KeyLines: map[string]int{}}
	bad := func(n *ynode, format string, args ...any) error {
		de := &DefinitionError{File: file, Msg: fmt.Sprintf(format, args...)}
		if n != nil {
			de.Line, de.Col = n.line, n.col
		}
		return de
	}
	if root.kind != yMap {
		return d, bad(root, "a connector definition must be a mapping (KafkaConnector resource or {\"name\",\"config\"})")
	}
	// strict refuses fields a definition does not have, at their line:
	// a misspelt field (taskMax) would otherwise be dropped silently.
	strict := func(n *ynode, what string, known ...string) error {
		if n == nil || n.kind != yMap {
			return nil
		}
		var errs []error
		for _, k := range n.keys {
			if slices.Contains(known, k) {
				continue
			}
			p := n.keyPos[k]
			msg := fmt.Sprintf("unknown field %q in %s%s", k, what, didYouMean(k, known))
			if hint, ok := unsupportedFields[k]; ok && strings.HasPrefix(what, "spec") {
				msg = fmt.Sprintf("%s.%s is not supported by weir: %s", what, k, hint)
			}
			errs = append(errs, &DefinitionError{File: file, Line: p[0], Col: p[1], Msg: msg})
		}
		return errors.Join(errs...)
	}
	scalarMap := func(n *ynode, what string) error {
		if n == nil || n.kind == yNull {
			return nil
		}
		if n.kind != yMap {
			return bad(n, "%s must be a mapping of keys to values", what)
		}
		for _, k := range n.keys {
			v := n.m[k]
			switch v.kind {
			case yScalar:
				d.Config[k] = v.s
			case yNull:
				d.Config[k] = ""
			case ySeq: // a YAML list is a Kafka LIST: comma separated
				var parts []string
				for _, e := range v.seq {
					if e.kind != yScalar {
						return bad(e, "%s.%s: list items must be scalars", what, k)
					}
					parts = append(parts, e.s)
				}
				d.Config[k] = strings.Join(parts, ",")
			default:
				return bad(v, "%s.%s: value must be a string, number or boolean, not a mapping", what, k)
			}
			d.KeyLines[k] = n.keyPos[k][0]
		}
		return nil
	}
	if kind := root.get("kind"); kind != nil || root.get("apiVersion") != nil {
		if err := errors.Join(
			strict(root, "the KafkaConnector resource", "apiVersion", "kind", "metadata", "spec", "status"),
			strict(root.get("metadata"), "metadata", objectMetaFields...),
			strict(root.get("spec"), "spec", "class", "tasksMax", "config", "state", "pause", "autoRestart"),
			strict(root.get("spec").get("autoRestart"), "spec.autoRestart", "enabled", "maxRestarts"),
		); err != nil {
			return d, err
		}
		if kind == nil || kind.s != "KafkaConnector" {
			return d, bad(kind, "kind must be KafkaConnector")
		}
		if av := root.get("apiVersion"); av == nil || !strings.HasPrefix(av.s, "kafka.strimzi.io/") {
			return d, bad(av, "apiVersion must be kafka.strimzi.io/v1beta2 (or another kafka.strimzi.io version)")
		}
		md := root.get("metadata")
		name := md.get("name")
		if name == nil || name.kind != yScalar || strings.TrimSpace(name.s) == "" {
			at := md
			if at == nil {
				at = root
			}
			return d, bad(at, "metadata.name is required")
		}
		d.Name = strings.TrimSpace(name.s)
		spec := root.get("spec")
		if spec == nil || spec.kind != yMap {
			at := spec
			if at == nil {
				at = root
			}
			return d, bad(at, "spec is required and must be a mapping")
		}
		if err := scalarMap(spec.get("config"), "spec.config"); err != nil {
			return d, err
		}
		if l, ok := spec.keyPos["config"]; ok {
			d.ConfigLine = l[0]
		}
		if c := spec.get("class"); c != nil {
			if c.kind != yScalar {
				return d, bad(c, "spec.class must be a string")
			}
			d.Config[cfgClass] = c.s
			d.KeyLines[cfgClass] = c.line
		}
		if _, ok := d.Config[cfgClass]; !ok {
			return d, bad(spec, "spec.class is required (the connector class, e.g. FileStreamSource)")
		}
		if tm := spec.get("tasksMax"); tm != nil {
			if n, err := strconv.Atoi(tm.s); tm.kind != yScalar || err != nil || n < 1 {
				return d, bad(tm, "spec.tasksMax must be a positive integer, got %q", tm.s)
			}
			d.Config[cfgTasksMax] = tm.s
			d.KeyLines[cfgTasksMax] = tm.line
		}
		if st := spec.get("state"); st != nil {
			switch strings.ToLower(st.s) {
			case "running":
				d.State = TargetStarted
			case "paused":
				d.State = TargetPaused
			case "stopped":
				d.State = TargetStopped
			default:
				return d, bad(st, "spec.state must be running, paused or stopped, got %q", st.s)
			}
		} else if p := spec.get("pause"); p != nil {
			if b, err := strconv.ParseBool(p.s); err != nil {
				return d, bad(p, "spec.pause must be true or false")
			} else if b {
				d.State = TargetPaused
			} else {
				d.State = TargetStarted
			}
		}
		if ar := spec.get("autoRestart"); ar != nil {
			if ar.kind != yMap {
				return d, bad(ar, "spec.autoRestart must be a mapping {enabled, maxRestarts}")
			}
			if e := ar.get("enabled"); e != nil {
				b, err := strconv.ParseBool(e.s)
				if err != nil {
					return d, bad(e, "spec.autoRestart.enabled must be true or false")
				}
				d.Config[cfgAutoRestart] = strconv.FormatBool(b)
				d.KeyLines[cfgAutoRestart] = e.line
			}
			if mr := ar.get("maxRestarts"); mr != nil {
				if _, err := strconv.Atoi(mr.s); err != nil {
					return d, bad(mr, "spec.autoRestart.maxRestarts must be an integer")
				}
				d.Config[cfgAutoRestartMax] = mr.s
				d.KeyLines[cfgAutoRestartMax] = mr.line
			}
		}
	} else {
		// Kafka Connect's POST /connectors body.
		if err := strict(root, "the connector definition (Kafka Connect's {\"name\",\"config\",\"initial_state\"})", createRequestFields...); err != nil {
			return d, err
		}
		name := root.get("name")
		if name == nil || name.kind != yScalar || strings.TrimSpace(name.s) == "" {
			return d, bad(root, "name is required (or write a KafkaConnector resource)")
		}
		d.Name = strings.TrimSpace(name.s)
		cfg := root.get("config")
		if cfg == nil {
			return d, bad(root, "config is required")
		}
		if err := scalarMap(cfg, "config"); err != nil {
			return d, err
		}
		d.ConfigLine = root.keyPos["config"][0]
		if st := root.get("initial_state"); st != nil {
			t, err := parseInitialState(st.s)
			if err != nil {
				return d, bad(st, "%v", err)
			}
			d.State = t
		}
	}
	if n, ok := d.Config[cfgName]; ok && n != d.Name {
		return d, &DefinitionError{File: file, Line: d.KeyLines[cfgName], Msg: fmt.Sprintf("config name %q differs from the connector's name %q", n, d.Name)}
	}
	d.Config[cfgName] = d.Name
	return d, nil
}

// ValidateDefinition validates a definition against the plugins this
// binary has, offline, and returns one error per problem with its line.
func (w *Worker) ValidateDefinition(d ConnectorDefinition) []error {
	infos, rerr := w.validateConnector(d.Config)
	if rerr != nil {
		return []error{&DefinitionError{File: d.File, Line: d.KeyLinesOr(cfgClass), Msg: rerr.Message}}
	}
	var out []error
	for _, c := range infos.Configs {
		for _, e := range c.Value.Errors {
			if !strings.Contains(e, c.Value.Name) {
				e = c.Value.Name + ": " + e
			}
			out = append(out, &DefinitionError{File: d.File, Line: d.KeyLinesOr(c.Value.Name), Msg: fmt.Sprintf("connector %s: %s", d.Name, e)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].(*DefinitionError).Line < out[j].(*DefinitionError).Line })
	return out
}

// DefinitionWarnings are problems that do not stop a definition from
// applying: config keys nothing declares (usually typos), each at its line
// with the nearest declared key.
func (w *Worker) DefinitionWarnings(d ConnectorDefinition) []error {
	return KeyWarnings(d, w.UnknownKeys(d.Config))
}

// KeyWarnings places unknown keys of a definition at their lines.
func KeyWarnings(d ConnectorDefinition, unknown []UnknownKey) []error {
	var out []error
	for _, u := range unknown {
		out = append(out, &DefinitionError{File: d.File, Line: d.KeyLinesOr(u.Key), Msg: fmt.Sprintf("connector %s: warning: %s", d.Name, u)})
	}
	return out
}

// KeyLinesOr returns the line of a config key, or of the definition.
func (d ConnectorDefinition) KeyLinesOr(key string) int {
	if l, ok := d.KeyLines[key]; ok && l > 0 {
		return l
	}
	if d.ConfigLine > 0 {
		return d.ConfigLine
	}
	return d.Line
}

// ApplyDir applies every definition in a file or directory through this
// worker's REST API (so followers forward to the leader), retrying while
// the cluster has no leader yet.
func (w *Worker) ApplyDir(path string) error {
	defs, err := LoadDefinitions(path)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range defs {
		if err := w.applyDefinition(d); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: connector %s: %w", d.File, d.Line, d.Name, err))
			continue
		}
		w.log.Info("applied connector definition", "connector", d.Name, "file", d.File)
		for _, warn := range w.DefinitionWarnings(d) {
			w.log.Warn(warn.Error())
		}
	}
	return errors.Join(errs...)
}

func (w *Worker) applyDefinition(d ConnectorDefinition) error {
	h := w.Handler()
	call := func(method, path string, body any) (int, []byte) {
		deadline := time.Now().Add(60 * time.Second)
		for {
			var rd *bytes.Reader
			if body != nil {
				b, _ := json.Marshal(body)
				rd = bytes.NewReader(b)
			} else {
				rd = bytes.NewReader(nil)
			}
			req := httptest.NewRequestWithContext(context.Background(), method, path, rd)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			retry := rec.Code == http.StatusConflict || rec.Code == http.StatusServiceUnavailable
			if !retry || time.Now().After(deadline) {
				return rec.Code, rec.Body.Bytes()
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	base := "/connectors/" + url.PathEscape(d.Name)
	snap := w.configs.snapshot()
	_, existed := snap.connectors[d.Name]
	if !existed && d.State != "" && d.State != TargetStarted {
		// Create it in its state directly, as POST's initial_state does.
		state := map[TargetState]string{TargetPaused: "PAUSED", TargetStopped: "STOPPED"}[d.State]
		code, body := call("POST", "/connectors", map[string]any{"name": d.Name, "config": d.Config, "initial_state": state})
		if code == http.StatusCreated {
			return nil
		}
		if code != http.StatusConflict {
			return restBodyErr(code, body)
		}
	}
	code, body := call("PUT", base+"/config", d.Config)
	if code != http.StatusOK && code != http.StatusCreated {
		return restBodyErr(code, body)
	}
	if d.State == "" {
		return nil
	}
	cur := w.configs.snapshot().target(d.Name)
	if cur == d.State {
		return nil
	}
	verb := map[TargetState]string{TargetStarted: "resume", TargetPaused: "pause", TargetStopped: "stop"}[d.State]
	code, body = call("PUT", base+"/"+verb, nil)
	if code >= 300 {
		return restBodyErr(code, body)
	}
	return nil
}

func restBodyErr(code int, body []byte) error {
	var e struct {
		Code    int    `json:"error_code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && e.Message != "" {
		return &RESTError{Code: code, Message: e.Message}
	}
	return &RESTError{Code: code, Message: strings.TrimSpace(string(body))}
}
