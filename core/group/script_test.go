package group

// Data-driven state-machine tests: each file in testdata/ is a script of
// commands, each followed by "----" and the output it must produce, the
// blocks separated by blank lines. Run with -rewrite to regenerate the
// expected output (then read the diff: the files are the specification).
//
// Clients are named by the scripts; the member ids the coordinator hands
// out are printed as aliases (the first id a client gets is its name, a
// later one name2, name3...). JoinGroup and SyncGroup are started
// synchronously on the coordinator's internals, so whether a request
// blocks is deterministic; after every command each blocked request that
// has been answered is printed. Time only moves with "advance".

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var rewrite = flag.Bool("rewrite", false, "rewrite testdata expectations")

func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptClient struct {
	name       string
	memberID   string
	instance   *string
	generation int32
	protocols  string // last JoinGroup's protocols, reused when not given
	session    time.Duration
	rebalance  time.Duration
	ptype      string
	join       *joinWaiter
	sync       *syncWaiter
}

type scriptEnv struct {
	t       *testing.T
	clk     *manualClock
	store   *memStore
	c       *Coordinator
	clients map[string]*scriptClient
	alias   map[string]string // member id → alias
	count   map[string]int    // aliases handed out per client
	out     *strings.Builder
	events  []event // responses of this command, printed by flush
}

// event is one line of a command's output about a client's request.
type event struct {
	cl   *scriptClient
	join *kmsg.JoinGroupResponse
	sync *kmsg.SyncGroupResponse
	line string
}

func runScript(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	env := &scriptEnv{
		t:       t,
		clk:     newManualClock(),
		store:   newMemStore(4),
		clients: make(map[string]*scriptClient),
		alias:   make(map[string]string),
		count:   make(map[string]int),
	}
	env.c = testCoordinator(t, Config{}, env.store, env.clk)

	var rewritten strings.Builder
	lines := strings.Split(string(data), "\n")
	failed := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			rewritten.WriteString(line + "\n")
			continue
		}
		cmdLine, lineNo := line, i+1
		i++
		if i >= len(lines) || lines[i] != "----" {
			t.Fatalf("%s:%d: command without ---- separator", path, lineNo)
		}
		var want []string
		for i++; i < len(lines) && lines[i] != ""; i++ {
			want = append(want, lines[i])
		}
		var out strings.Builder
		env.out = &out
		env.run(cmdLine)
		env.drain()
		env.flush()
		got := strings.TrimRight(out.String(), "\n")
		if got != strings.Join(want, "\n") && !*rewrite {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", path, lineNo, cmdLine, got, strings.Join(want, "\n"))
			failed = true
		}
		rewritten.WriteString(cmdLine + "\n----\n")
		if got != "" {
			rewritten.WriteString(got + "\n")
		}
		rewritten.WriteString("\n")
	}
	if *rewrite && !failed {
		if err := os.WriteFile(path, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *scriptEnv) printf(format string, args ...any) {
	fmt.Fprintln(e.out, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (e *scriptEnv) client(name string) *scriptClient {
	cl := e.clients[name]
	if cl == nil {
		cl = &scriptClient{name: name, generation: -1}
		e.clients[name] = cl
	}
	return cl
}

// name returns the alias of a member id, giving it one for cl if new.
func (e *scriptEnv) name(id string, cl *scriptClient) string {
	if id == "" {
		return `""`
	}
	if a, ok := e.alias[id]; ok {
		return a
	}
	if cl == nil {
		return "?"
	}
	e.count[cl.name]++
	a := cl.name
	if n := e.count[cl.name]; n > 1 {
		a += strconv.Itoa(n)
	}
	e.alias[id] = a
	return a
}

func (e *scriptEnv) idOf(alias string) string {
	for id, a := range e.alias {
		if a == alias {
			return id
		}
	}
	return alias // not an alias: a raw member id
}

func errName(code int16) string {
	if code == 0 {
		return "ok"
	}
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return fmt.Sprintf("error(%d)", code)
}

// args parses "k=v" words; bare words go to positional.
func args(words []string) (pos []string, kv map[string]string) {
	kv = make(map[string]string)
	for _, w := range words {
		if k, v, ok := strings.Cut(w, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, w)
		}
	}
	return pos, kv
}

func (e *scriptEnv) ctx(cl string) context.Context {
	return WithClient(context.Background(), ClientInfo{ID: cl, Host: "/127.0.0.1"})
}

func intArg(kv map[string]string, k string, def int) int {
	v, ok := kv[k]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		panic(fmt.Sprintf("bad %s=%s", k, v))
	}
	return n
}

func durArg(kv map[string]string, k string, def time.Duration) time.Duration {
	v, ok := kv[k]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		panic(fmt.Sprintf("bad %s=%s", k, v))
	}
	return d
}

func (e *scriptEnv) run(line string) {
	words := strings.Fields(line)
	cmd := words[0]
	pos, kv := args(words[1:])
	groupID := kv["group"]
	if _, ok := kv["group"]; !ok {
		groupID = "g"
	}
	switch cmd {
	case "coordinator":
		e.c.Close()
		cfg := Config{
			MaxSize:               intArg(kv, "max-size", 0),
			InitialRebalanceDelay: durArg(kv, "initial-delay", 0),
			OffsetsRetention:      durArg(kv, "retention", 0),
		}
		e.store = newMemStore(4)
		e.c = testCoordinator(e.t, cfg, e.store, e.clk)
	case "close":
		e.c.Close()
	case "restart":
		e.c.Close()
		e.drain()
		e.c = testCoordinator(e.t, e.c.cfg, e.store, e.clk)
		if err := e.c.Load(context.Background()); err != nil {
			e.printf("load: %v", err)
		}
	case "advance":
		e.clk.Advance(durArg(map[string]string{"d": pos[0]}, "d", 0))
	case "join":
		e.join(e.client(pos[0]), groupID, kv)
	case "sync":
		e.sync(e.client(pos[0]), groupID, kv)
	case "heartbeat":
		cl := e.client(pos[0])
		req := kmsg.NewPtrHeartbeatRequest()
		req.Version = int16(intArg(kv, "v", 4))
		req.Group, req.MemberID, req.InstanceID = groupID, cl.memberID, cl.instance
		req.Generation = int32(intArg(kv, "gen", int(cl.generation)))
		resp := e.c.Handle(e.ctx(cl.name), req).(*kmsg.HeartbeatResponse)
		e.printf("%s: heartbeat %s", cl.name, errName(resp.ErrorCode))
	case "leave":
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Version = int16(intArg(kv, "v", 5))
		req.Group = groupID
		for _, name := range pos {
			cl := e.client(name)
			req.MemberID = cl.memberID
			m := kmsg.LeaveGroupRequestMember{MemberID: cl.memberID, InstanceID: cl.instance}
			if kv["by-instance"] == "true" {
				m.MemberID = ""
			}
			req.Members = append(req.Members, m)
		}
		resp := e.c.Handle(context.Background(), req).(*kmsg.LeaveGroupResponse)
		if req.Version < 3 {
			e.printf("leave %s", errName(resp.ErrorCode))
			break
		}
		var parts []string
		for i, m := range resp.Members {
			parts = append(parts, pos[i]+"="+errName(m.ErrorCode))
		}
		e.printf("leave %s %s", errName(resp.ErrorCode), strings.Join(parts, " "))
	case "commit":
		e.commit(pos[0], groupID, kv)
	case "fetch":
		e.fetch(groupID, kv)
	case "offset-delete":
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = groupID
		for _, tp := range strings.Split(kv["partitions"], ",") {
			topic, p, _ := strings.Cut(tp, ":")
			n, _ := strconv.Atoi(p)
			req.Topics = append(req.Topics, kmsg.OffsetDeleteRequestTopic{Topic: topic, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: int32(n)}}})
		}
		resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetDeleteResponse)
		var parts []string
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				parts = append(parts, fmt.Sprintf("%s:%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
			}
		}
		e.printf("offset-delete %s %s", errName(resp.ErrorCode), strings.Join(parts, " "))
	case "describe":
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.Version = int16(intArg(kv, "v", 5))
		req.Groups = []string{groupID}
		resp := e.c.Handle(context.Background(), req).(*kmsg.DescribeGroupsResponse)
		d := resp.Groups[0]
		var ms []string
		for _, m := range d.Members {
			s := e.name(m.MemberID, nil)
			if m.InstanceID != nil {
				s += "(" + *m.InstanceID + ")"
			}
			if len(m.MemberAssignment) > 0 {
				s += ":" + string(m.MemberAssignment)
			}
			ms = append(ms, s)
		}
		e.printf("describe %s state=%s type=%q protocol=%q members=[%s]", errName(d.ErrorCode), d.State, d.ProtocolType, d.Protocol, strings.Join(ms, " "))
	case "list":
		req := kmsg.NewPtrListGroupsRequest()
		req.Version = int16(intArg(kv, "v", 5))
		if s := kv["states"]; s != "" {
			req.StatesFilter = strings.Split(s, ",")
		}
		if s := kv["types"]; s != "" {
			req.TypesFilter = strings.Split(s, ",")
		}
		resp := e.c.Handle(context.Background(), req).(*kmsg.ListGroupsResponse)
		var gs []string
		for _, g := range resp.Groups {
			gs = append(gs, fmt.Sprintf("%s(%s,%q)", g.Group, g.GroupState, g.ProtocolType))
		}
		e.printf("list %s [%s]", errName(resp.ErrorCode), strings.Join(gs, " "))
	case "delete":
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Version = 2
		req.Groups = []string{groupID}
		resp := e.c.Handle(context.Background(), req).(*kmsg.DeleteGroupsResponse)
		e.printf("delete %s", errName(resp.Groups[0].ErrorCode))
	case "state":
		e.state(groupID)
	case "store-fail":
		if pos[0] == "on" {
			e.store.setFail(kerr.NotEnoughReplicas)
		} else {
			e.store.setFail(nil)
		}
	default:
		e.t.Fatalf("unknown command %q", cmd)
	}
}

func (e *scriptEnv) join(cl *scriptClient, groupID string, kv map[string]string) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = int16(intArg(kv, "v", 9))
	req.Group = groupID
	if cl.session == 0 {
		cl.session, cl.rebalance = 10*time.Second, 20*time.Second
	}
	cl.session = durArg(kv, "session", cl.session)
	cl.rebalance = durArg(kv, "rebalance", cl.rebalance)
	req.SessionTimeoutMillis = int32(cl.session.Milliseconds())
	req.RebalanceTimeoutMillis = int32(cl.rebalance.Milliseconds())
	req.MemberID = cl.memberID
	if m, ok := kv["member"]; ok {
		req.MemberID = ""
		if m != "" {
			req.MemberID = e.idOf(m)
		}
	}
	if inst, ok := kv["inst"]; ok {
		cl.instance = &inst
	}
	req.InstanceID = cl.instance
	if cl.ptype == "" {
		cl.ptype = "consumer"
	}
	if pt, ok := kv["type"]; ok {
		cl.ptype = pt
	}
	req.ProtocolType = cl.ptype
	if cl.protocols == "" {
		cl.protocols = "range:x"
	}
	if p, ok := kv["protocols"]; ok {
		cl.protocols = p
	}
	protocols := cl.protocols
	for _, p := range strings.Split(protocols, ",") {
		if p == "" {
			continue
		}
		name, meta, _ := strings.Cut(p, ":")
		req.Protocols = append(req.Protocols, kmsg.JoinGroupRequestProtocol{Name: name, Metadata: encodeMeta(meta)})
	}
	resp, w := e.c.startJoin(e.ctx(cl.name), req)
	if w != nil {
		cl.join = w
		select {
		case resp := <-w.ch:
			cl.join = nil
			e.printJoin(cl, resp)
		default:
			e.events = append(e.events, event{cl: cl, line: cl.name + ": join blocked"})
		}
		return
	}
	e.printJoin(cl, resp)
}

func (e *scriptEnv) printJoin(cl *scriptClient, resp *kmsg.JoinGroupResponse) {
	e.events = append(e.events, event{cl: cl, join: resp})
}

func (e *scriptEnv) printSync(cl *scriptClient, resp *kmsg.SyncGroupResponse) {
	e.events = append(e.events, event{cl: cl, sync: resp})
}

// flush names every member id handed out by this command's responses,
// then prints them, so that a leader's member list can name members whose
// own responses come later.
func (e *scriptEnv) flush() {
	for _, ev := range e.events {
		if ev.join != nil && ev.join.MemberID != "" && ev.join.ErrorCode != kerr.FencedInstanceID.Code {
			e.name(ev.join.MemberID, ev.cl)
		}
	}
	for _, ev := range e.events {
		switch {
		case ev.join != nil:
			e.writeJoin(ev.cl, ev.join)
		case ev.sync != nil:
			e.writeSync(ev.cl, ev.sync)
		default:
			e.printf("%s", ev.line)
		}
	}
	e.events = nil
}

func (e *scriptEnv) writeJoin(cl *scriptClient, resp *kmsg.JoinGroupResponse) {
	if resp.MemberID != "" && resp.ErrorCode != kerr.FencedInstanceID.Code {
		cl.memberID = resp.MemberID
	}
	s := fmt.Sprintf("%s: join %s member=%s", cl.name, errName(resp.ErrorCode), e.name(resp.MemberID, cl))
	if resp.ErrorCode == 0 {
		cl.generation = resp.Generation
		s += fmt.Sprintf(" gen=%d leader=%s protocol=%s", resp.Generation, e.name(resp.LeaderID, nil), *resp.Protocol)
		if resp.LeaderID == resp.MemberID {
			var ms []string
			for _, m := range resp.Members {
				x := e.name(m.MemberID, nil)
				if len(m.ProtocolMetadata) > 0 {
					x += ":" + showMeta(m.ProtocolMetadata)
				}
				ms = append(ms, x)
			}
			s += " members=[" + strings.Join(ms, " ") + "]"
		}
		if resp.SkipAssignment {
			s += " skip-assignment"
		}
	}
	e.printf("%s", s)
}

func (e *scriptEnv) sync(cl *scriptClient, groupID string, kv map[string]string) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = int16(intArg(kv, "v", 5))
	req.Group, req.MemberID, req.InstanceID = groupID, cl.memberID, cl.instance
	req.Generation = int32(intArg(kv, "gen", int(cl.generation)))
	if p, ok := kv["protocol"]; ok {
		req.Protocol = &p
	}
	if p, ok := kv["type"]; ok {
		req.ProtocolType = &p
	}
	if a := kv["assign"]; a != "" {
		for _, part := range strings.Split(a, ",") {
			alias, assignment, _ := strings.Cut(part, ":")
			req.GroupAssignment = append(req.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: e.idOf(alias), MemberAssignment: []byte(assignment)})
		}
	}
	resp, w := e.c.startSync(e.ctx(cl.name), req)
	if w != nil {
		cl.sync = w
		select {
		case resp := <-w.ch:
			cl.sync = nil
			e.printSync(cl, resp)
		default:
			e.events = append(e.events, event{cl: cl, line: cl.name + ": sync blocked"})
		}
		return
	}
	e.printSync(cl, resp)
}

func (e *scriptEnv) writeSync(cl *scriptClient, resp *kmsg.SyncGroupResponse) {
	if resp.ErrorCode != 0 {
		e.printf("%s: sync %s", cl.name, errName(resp.ErrorCode))
		return
	}
	e.printf("%s: sync ok assignment=%q", cl.name, resp.MemberAssignment)
}

// drain prints every blocked request answered since the last command.
func (e *scriptEnv) drain() {
	names := make([]string, 0, len(e.clients))
	for n := range e.clients {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		cl := e.clients[n]
		if cl.join != nil {
			select {
			case resp := <-cl.join.ch:
				cl.join = nil
				e.printJoin(cl, resp)
			default:
			}
		}
		if cl.sync != nil {
			select {
			case resp := <-cl.sync.ch:
				cl.sync = nil
				e.printSync(cl, resp)
			default:
			}
		}
	}
}

func (e *scriptEnv) commit(who, groupID string, kv map[string]string) {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = int16(intArg(kv, "v", 9))
	req.Group = groupID
	if who != "-" {
		cl := e.client(who)
		req.MemberID, req.InstanceID = cl.memberID, cl.instance
		req.Generation = int32(intArg(kv, "gen", int(cl.generation)))
	}
	for _, o := range strings.Split(kv["offsets"], ",") {
		tp, off, _ := strings.Cut(o, "=")
		topic, p, _ := strings.Cut(tp, ":")
		pn, _ := strconv.Atoi(p)
		on, _ := strconv.ParseInt(off, 10, 64)
		md := kv["metadata"]
		req.Topics = append(req.Topics, kmsg.OffsetCommitRequestTopic{
			Topic:      topic,
			Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: int32(pn), Offset: on, LeaderEpoch: 1, Metadata: &md}},
		})
	}
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetCommitResponse)
	var parts []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s:%d=%s", t.Topic, p.Partition, errName(p.ErrorCode)))
		}
	}
	e.printf("commit %s", strings.Join(parts, " "))
}

func (e *scriptEnv) fetch(groupID string, kv map[string]string) {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = int16(intArg(kv, "v", 9))
	rg := kmsg.OffsetFetchRequestGroup{Group: groupID}
	if ts := kv["partitions"]; ts != "" {
		for _, tp := range strings.Split(ts, ",") {
			topic, p, _ := strings.Cut(tp, ":")
			n, _ := strconv.Atoi(p)
			rg.Topics = append(rg.Topics, kmsg.OffsetFetchRequestGroupTopic{Topic: topic, Partitions: []int32{int32(n)}})
		}
	}
	req.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	resp := e.c.Handle(context.Background(), req).(*kmsg.OffsetFetchResponse)
	g := resp.Groups[0]
	var parts []string
	for _, t := range g.Topics {
		for _, p := range t.Partitions {
			parts = append(parts, fmt.Sprintf("%s:%d=%d", t.Topic, p.Partition, p.Offset))
		}
	}
	e.printf("fetch %s %s", errName(g.ErrorCode), strings.Join(parts, " "))
}

func (e *scriptEnv) state(groupID string) {
	g := e.c.lockGroup(groupID, false)
	if g == nil {
		e.printf("state: no group")
		return
	}
	defer g.mu.Unlock()
	var ms []string
	for _, m := range g.ordered() {
		ms = append(ms, e.name(m.id, nil))
	}
	e.printf("state %s gen=%d leader=%s protocol=%q members=[%s] pending=%d", g.state, g.generation, e.name(g.leader, nil), g.protocol, strings.Join(ms, " "), len(g.pending))
}

// encodeMeta turns "@t1/t2" into consumer-protocol metadata subscribing to
// t1 and t2; other strings are taken as they are.
func encodeMeta(s string) []byte {
	if !strings.HasPrefix(s, "@") {
		return []byte(s)
	}
	m := kmsg.ConsumerMemberMetadata{Version: 0, Topics: strings.Split(s[1:], "/")}
	return m.AppendTo(nil)
}

func showMeta(b []byte) string {
	var m kmsg.ConsumerMemberMetadata
	if len(b) > 2 && b[0] == 0 && m.ReadFrom(b) == nil {
		return "@" + strings.Join(m.Topics, "/")
	}
	return string(b)
}
