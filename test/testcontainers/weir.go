package testcontainers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	tc "github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The ports weir's image listens on (its WEIR_KAFKA_ADDR and WEIR_HTTP_ADDR
// defaults).
const (
	KafkaPort = "9092/tcp"
	HTTPPort  = "8083/tcp"
)

// Files the module copies in for the advertised address (see the package doc).
const (
	configPath     = "/etc/weir/testcontainers.yaml"
	markerPath     = "/etc/weir/testcontainers.ready"
	connectorsPath = "/etc/weir/connectors"
)

// Container is a running weir.
type Container struct {
	tc.Container
	opts options
}

type options struct {
	hostNetwork bool
	kafkaPort   int // host network: the ports picked
	httpPort    int
	topics      []topic
	connectors  []string
	config      map[string]string
}

type topic struct {
	name       string
	partitions int32
}

// Option is one of this module's options. It is a
// testcontainers.ContainerCustomizer, so it mixes with testcontainers-go's
// own (WithEnv, WithName, ...); Run reads it before building the request.
type Option func(*options) error

// Customize is a no-op: Run applies Options itself.
func (o Option) Customize(*tc.GenericContainerRequest) error { return nil }

// WithTopics creates topics once weir is ready: "name" (1 partition) or
// "name:partitions".
func WithTopics(specs ...string) Option {
	return func(o *options) error {
		for _, s := range specs {
			t, err := parseTopic(s)
			if err != nil {
				return err
			}
			o.topics = append(o.topics, t)
		}
		return nil
	}
}

func parseTopic(s string) (topic, error) {
	name, n, found := strings.Cut(s, ":")
	p := int64(1)
	if found {
		var err error
		if p, err = strconv.ParseInt(n, 10, 32); err != nil || p < 1 {
			return topic{}, fmt.Errorf("WithTopics %q: want name or name:partitions with partitions >= 1", s)
		}
	}
	if name == "" {
		return topic{}, fmt.Errorf("WithTopics %q: empty topic name", s)
	}
	return topic{name, int32(p)}, nil
}

// WithConnectors copies connector definitions (Strimzi KafkaConnector YAML
// or Connect JSON files) into the container; weir applies them at start
// (weir serve --connectors).
func WithConnectors(files ...string) Option {
	return func(o *options) error {
		o.connectors = append(o.connectors, files...)
		return nil
	}
}

// WithConfig sets one `weir serve` setting by its flag name
// (e.g. "num-partitions", "3"), passed as WEIR_NUM_PARTITIONS.
func WithConfig(key, value string) Option {
	return func(o *options) error {
		if key == "" {
			return errors.New("WithConfig: empty key")
		}
		if o.config == nil {
			o.config = map[string]string{}
		}
		o.config[key] = value
		return nil
	}
}

// WithHostNetwork runs the container in the host's network namespace
// (docker run --network host). The module picks free ports on 127.0.0.1
// for Kafka and HTTP and weir binds and advertises exactly those, so
// Brokers and ConnectURL hand out 127.0.0.1 addresses.
func WithHostNetwork() Option {
	return func(o *options) error {
		var err error
		if o.kafkaPort, err = freePort(); err != nil {
			return err
		}
		if o.httpPort, err = freePort(); err != nil {
			return err
		}
		o.hostNetwork = true
		return nil
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// envName is the WEIR_* variable of a weir serve flag.
func envName(flag string) string {
	return "WEIR_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// Run starts weir from img (e.g. "weir:latest") and waits until it serves
// Kafka and /health answers 200; then creates WithTopics' topics.
func Run(ctx context.Context, img string, opts ...tc.ContainerCustomizer) (*Container, error) {
	var o options
	var rest []tc.ContainerCustomizer
	for _, opt := range opts {
		if mo, ok := opt.(Option); ok {
			if err := mo(&o); err != nil {
				return nil, err
			}
			continue
		}
		rest = append(rest, opt)
	}
	c := &Container{opts: o}
	base, err := request(&o)
	if err != nil {
		return nil, err
	}
	base = append(base, tc.WithWaitStrategyAndDeadline(60*time.Second, readiness{c: c}))
	if !o.hostNetwork {
		base = append(base, tc.WithLifecycleHooks(tc.ContainerLifecycleHooks{
			PostStarts: []tc.ContainerHook{func(ctx context.Context, ctr tc.Container) error {
				c.Container = ctr
				return setAdvertised(ctx, ctr)
			}},
		}))
	}
	ctr, err := tc.Run(ctx, img, append(base, rest...)...)
	if ctr != nil {
		c.Container = ctr
	}
	if err != nil {
		return c, fmt.Errorf("run weir: %w", err)
	}
	if len(o.topics) > 0 {
		if err := c.createTopics(ctx); err != nil {
			return c, err
		}
	}
	return c, nil
}

// request is everything about the container but the hooks that need it
// running: env, ports, network mode, connector files.
func request(o *options) ([]tc.ContainerCustomizer, error) {
	env := map[string]string{}
	for k, v := range o.config {
		env[envName(k)] = v
	}
	var out []tc.ContainerCustomizer
	if o.hostNetwork {
		kafka := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.kafkaPort))
		env["WEIR_KAFKA_ADDR"] = kafka
		env["WEIR_ADVERTISED_KAFKA_ADDR"] = kafka
		env["WEIR_HTTP_ADDR"] = net.JoinHostPort("127.0.0.1", strconv.Itoa(o.httpPort))
		out = append(out, tc.WithHostConfigModifier(func(hc *container.HostConfig) { hc.NetworkMode = "host" }))
	} else {
		env["WEIR_CONFIG"] = configPath
		env["WEIR_AWAIT_FILE"] = markerPath
		out = append(out, tc.WithExposedPorts(KafkaPort, HTTPPort))
	}
	if len(o.connectors) > 0 {
		env["WEIR_CONNECTORS"] = connectorsPath
		var files []tc.ContainerFile
		seen := map[string]bool{}
		for i, f := range o.connectors {
			base := filepath.Base(f)
			if seen[base] {
				base = fmt.Sprintf("%d-%s", i, base)
			}
			seen[base] = true
			files = append(files, tc.ContainerFile{HostFilePath: f, ContainerFilePath: path.Join(connectorsPath, base), FileMode: 0o644})
		}
		out = append(out, tc.WithFiles(files...))
	}
	return append(out, tc.WithEnv(env)), nil
}

// copier is the one container method the advertised-address hook uses (a
// fake in the unit tests).
type copier interface {
	CopyToContainer(ctx context.Context, content []byte, containerPath string, mode int64) error
}

// setAdvertised is the post-start hook of the mapped-port path: it waits
// for Docker to map the Kafka port, then tells weir the host:port clients
// reach through the config file, and only then creates the marker weir
// waits for, so weir never reads a half-copied config.
func setAdvertised(ctx context.Context, ctr tc.Container) error {
	addr, err := mappedAddr(ctx, ctr, KafkaPort)
	if err != nil {
		return err
	}
	return copyAdvertised(ctx, ctr, addr)
}

func copyAdvertised(ctx context.Context, c copier, addr string) error {
	if err := c.CopyToContainer(ctx, advertisedConfig(addr), configPath, 0o644); err != nil {
		return fmt.Errorf("copy %s into the container: %w", configPath, err)
	}
	if err := c.CopyToContainer(ctx, []byte("ready\n"), markerPath, 0o644); err != nil {
		return fmt.Errorf("copy %s into the container: %w", markerPath, err)
	}
	return nil
}

func advertisedConfig(addr string) []byte {
	return []byte("# written by the weir testcontainers module once Docker mapped the Kafka port\nadvertised-kafka-addr: \"" + addr + "\"\n")
}

// portMapper is what mappedAddr needs of a container (a fake in the unit
// tests).
type portMapper interface {
	Host(ctx context.Context) (string, error)
	MappedPort(ctx context.Context, port string) (network.Port, error)
}

// mappedAddr is host:mappedPort, retried while Docker has not published
// the port yet.
func mappedAddr(ctx context.Context, ctr portMapper, port string) (string, error) {
	for {
		host, err := ctr.Host(ctx)
		if err != nil {
			return "", fmt.Errorf("container host: %w", err)
		}
		p, err := ctr.MappedPort(ctx, port)
		if err == nil && p.Port() != "" && p.Port() != "0" {
			return net.JoinHostPort(host, p.Port()), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("mapped port %s: %w (last: %v)", port, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Brokers returns the bootstrap address for Kafka clients on the host.
func (c *Container) Brokers(ctx context.Context) ([]string, error) {
	a, err := c.kafkaAddr(ctx)
	if err != nil {
		return nil, err
	}
	return []string{a}, nil
}

// ConnectURL is the Kafka Connect REST API's base URL
// (http://host:port, no trailing slash).
func (c *Container) ConnectURL(ctx context.Context) (string, error) {
	a, err := c.httpAddr(ctx)
	if err != nil {
		return "", err
	}
	return "http://" + a, nil
}

func (c *Container) kafkaAddr(ctx context.Context) (string, error) {
	if c.opts.hostNetwork {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opts.kafkaPort)), nil
	}
	return mappedAddr(ctx, c.Container, KafkaPort)
}

func (c *Container) httpAddr(ctx context.Context) (string, error) {
	if c.opts.hostNetwork {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.opts.httpPort)), nil
	}
	return mappedAddr(ctx, c.Container, HTTPPort)
}

func (c *Container) createTopics(ctx context.Context) error {
	brokers, err := c.Brokers(ctx)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range c.opts.topics {
		r, err := adm.CreateTopic(ctx, t.partitions, -1, nil, t.name)
		if err == nil {
			err = r.Err
		}
		if err != nil {
			return fmt.Errorf("create topic %s (%d partitions): %w", t.name, t.partitions, err)
		}
	}
	return nil
}

var errExited = errors.New("weir container is not running")

// readiness waits for GET /health = 200 and a TCP connection to the Kafka
// port, at the addresses Brokers and ConnectURL return.
type readiness struct{ c *Container }

func (r readiness) String() string { return "weir /health = 200 and the Kafka port" }

func (r readiness) WaitUntilReady(ctx context.Context, target wait.StrategyTarget) error {
	if r.c.Container == nil {
		if ctr, ok := target.(tc.Container); ok {
			r.c.Container = ctr
		}
	}
	var last error
	for {
		if last = r.ready(ctx, target); last == nil {
			return nil
		} else if errors.Is(last, errExited) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("weir not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (r readiness) ready(ctx context.Context, target wait.StrategyTarget) error {
	if st, err := target.State(ctx); err == nil && !st.Running {
		return fmt.Errorf("%w: %s, exit code %d", errExited, st.Status, st.ExitCode)
	}
	httpAddr, err := r.c.httpAddr(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+httpAddr+"/health", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/health: %s %s", resp.Status, body)
	}
	kafka, err := r.c.kafkaAddr(ctx)
	if err != nil {
		return err
	}
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", kafka)
	if err != nil {
		return err
	}
	return conn.Close()
}
