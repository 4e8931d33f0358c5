package testcontainers

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/network"
	tc "github.com/testcontainers/testcontainers-go"
)

// The mapped-port path (a normal Docker host, the users' default) cannot
// run on weir's test machine, where bridge networking is off limits; these
// tests cover its logic without Docker.

func buildRequest(t *testing.T, opts ...Option) (tc.GenericContainerRequest, options) {
	t.Helper()
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	custom, err := request(&o)
	if err != nil {
		t.Fatal(err)
	}
	req := tc.GenericContainerRequest{ContainerRequest: tc.ContainerRequest{Image: "weir:latest"}}
	for _, c := range custom {
		if err := c.Customize(&req); err != nil {
			t.Fatal(err)
		}
	}
	return req, o
}

func TestMappedPortRequestWaitsForTheAdvertisedConfig(t *testing.T) {
	req, _ := buildRequest(t, WithConfig("num-partitions", "3"))
	if req.Env["WEIR_CONFIG"] != configPath || req.Env["WEIR_AWAIT_FILE"] != markerPath {
		t.Fatalf("env %v: weir must wait for the config the hook copies in", req.Env)
	}
	if _, set := req.Env["WEIR_ADVERTISED_KAFKA_ADDR"]; set {
		t.Fatal("the advertised address is set in the env, where it would beat the config file")
	}
	if req.Env["WEIR_NUM_PARTITIONS"] != "3" {
		t.Fatalf("WithConfig: env %v", req.Env)
	}
	if strings.Join(req.ExposedPorts, ",") != KafkaPort+","+HTTPPort {
		t.Fatalf("exposed ports %v", req.ExposedPorts)
	}
}

func TestHostNetworkRequestBindsAndAdvertisesLoopback(t *testing.T) {
	req, o := buildRequest(t, WithHostNetwork())
	if o.kafkaPort == 0 || o.httpPort == 0 || o.kafkaPort == o.httpPort {
		t.Fatalf("ports %d %d", o.kafkaPort, o.httpPort)
	}
	k := req.Env["WEIR_KAFKA_ADDR"]
	if !strings.HasPrefix(k, "127.0.0.1:") || req.Env["WEIR_ADVERTISED_KAFKA_ADDR"] != k || !strings.HasPrefix(req.Env["WEIR_HTTP_ADDR"], "127.0.0.1:") {
		t.Fatalf("env %v", req.Env)
	}
	if _, set := req.Env["WEIR_AWAIT_FILE"]; set {
		t.Fatal("host network needs no await file")
	}
	c := &Container{opts: o}
	b, _ := c.Brokers(context.Background())
	u, _ := c.ConnectURL(context.Background())
	if b[0] != k || u != "http://"+req.Env["WEIR_HTTP_ADDR"] {
		t.Fatalf("Brokers %v ConnectURL %s, env %v", b, u, req.Env)
	}
}

func TestConnectorFilesAreCopiedAndApplied(t *testing.T) {
	req, _ := buildRequest(t, WithConnectors("a/src.yaml", "b/src.yaml", "c/sink.json"))
	if req.Env["WEIR_CONNECTORS"] != connectorsPath {
		t.Fatalf("env %v", req.Env)
	}
	var got []string
	for _, f := range req.Files {
		got = append(got, f.HostFilePath+"->"+f.ContainerFilePath)
	}
	want := "a/src.yaml->/etc/weir/connectors/src.yaml b/src.yaml->/etc/weir/connectors/1-src.yaml c/sink.json->/etc/weir/connectors/sink.json"
	if strings.Join(got, " ") != want {
		t.Fatalf("files %v, want %s", got, want)
	}
}

func TestTopicSpecs(t *testing.T) {
	var o options
	if err := WithTopics("a", "b:4")(&o); err != nil {
		t.Fatal(err)
	}
	if o.topics[0] != (topic{"a", 1}) || o.topics[1] != (topic{"b", 4}) {
		t.Fatalf("%v", o.topics)
	}
	for _, bad := range []string{"x:0", "x:y", ":3", ""} {
		if err := WithTopics(bad)(&options{}); err == nil {
			t.Errorf("WithTopics(%q) accepted", bad)
		}
	}
}

type fakeCopier struct {
	copies []string
	failAt int
}

func (f *fakeCopier) CopyToContainer(_ context.Context, content []byte, p string, _ int64) error {
	if len(f.copies)+1 == f.failAt {
		return errors.New("copy refused")
	}
	f.copies = append(f.copies, p+"="+string(content))
	return nil
}

func TestAdvertisedConfigBeforeMarker(t *testing.T) {
	f := &fakeCopier{}
	if err := copyAdvertised(context.Background(), f, "localhost:32771"); err != nil {
		t.Fatal(err)
	}
	if len(f.copies) != 2 || !strings.HasPrefix(f.copies[0], configPath+"=") || !strings.HasPrefix(f.copies[1], markerPath+"=") {
		t.Fatalf("copies %q: the config must be whole before the marker appears", f.copies)
	}
	if !strings.Contains(f.copies[0], `advertised-kafka-addr: "localhost:32771"`) {
		t.Fatalf("config %q", f.copies[0])
	}
	// A failed config copy must not create the marker (weir would start
	// advertising its in-container address).
	f = &fakeCopier{failAt: 1}
	if err := copyAdvertised(context.Background(), f, "h:1"); err == nil || len(f.copies) != 0 {
		t.Fatalf("err %v copies %q", err, f.copies)
	}
}

// fakeMapper publishes the port only on the third inspection, as Docker
// may right after start.
type fakeMapper struct{ calls int }

func (f *fakeMapper) Host(context.Context) (string, error) { return "docker.example", nil }

func (f *fakeMapper) MappedPort(_ context.Context, port string) (network.Port, error) {
	f.calls++
	if f.calls < 3 {
		return network.Port{}, errors.New("port not mapped yet")
	}
	return network.ParsePort("32771/tcp")
}

func TestMappedAddrWaitsForDockerToPublishThePort(t *testing.T) {
	f := &fakeMapper{}
	got, err := mappedAddr(context.Background(), f, KafkaPort)
	if err != nil || got != "docker.example:32771" || f.calls != 3 {
		t.Fatalf("mappedAddr = %q, %v after %d calls", got, err, f.calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mappedAddr(ctx, &fakeMapper{calls: -100}, KafkaPort); err == nil {
		t.Fatal("no error once the context is done")
	}
}
