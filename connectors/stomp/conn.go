package stomp

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	gostomp "github.com/go-stomp/stomp/v3"
)

// brokerAddr is one entry of stomp.url.
type brokerAddr struct {
	hostPort string
	host     string
	tls      bool
}

func (a brokerAddr) String() string {
	if a.tls {
		return "stomp+ssl://" + a.hostPort
	}
	return "tcp://" + a.hostPort
}

// parseURLs reads stomp.url. ConfigList has already split on commas, which
// also splits ActiveMQ's failover:(a,b)?opts; the entries are joined again
// and the failover wrapper removed, so both spellings give the same list.
func parseURLs(list []string) ([]brokerAddr, error) {
	joined := strings.Join(list, ",")
	joined = strings.TrimSpace(joined)
	if rest, ok := strings.CutPrefix(joined, "failover:"); ok {
		rest = strings.TrimPrefix(rest, "(")
		if i := strings.LastIndex(rest, ")"); i >= 0 {
			rest = rest[:i] // drops the failover options after ")"
		}
		joined = rest
	}
	var out []brokerAddr
	for _, raw := range strings.Split(joined, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		a, err := parseURL(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no broker address in %q", joined)
	}
	return out, nil
}

func parseURL(raw string) (brokerAddr, error) {
	if !strings.Contains(raw, "://") {
		raw = "tcp://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return brokerAddr{}, fmt.Errorf("invalid broker address %q: %w", raw, err)
	}
	var a brokerAddr
	switch strings.ToLower(u.Scheme) {
	case "tcp", "stomp", "stomp+nio", "nio":
	case "ssl", "stomp+ssl", "stomp+nio+ssl", "stomps", "tls":
		a.tls = true
	default:
		return a, fmt.Errorf("invalid broker address %q: scheme %q is not tcp://, stomp:// or stomp+ssl://", raw, u.Scheme)
	}
	a.host = u.Hostname()
	port := u.Port()
	if a.host == "" {
		return a, fmt.Errorf("invalid broker address %q: no host", raw)
	}
	if port == "" {
		port = "61613"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return a, fmt.Errorf("invalid broker address %q: bad port", raw)
	}
	a.hostPort = net.JoinHostPort(a.host, port)
	return a, nil
}

const dialTimeout = 10 * time.Second

// dialTCP opens the transport to one broker (TLS for stomp+ssl://).
func dialTCP(ctx context.Context, a brokerAddr, insecure bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a.hostPort)
	if err != nil {
		return nil, err
	}
	if !a.tls {
		return c, nil
	}
	tc := tls.Client(c, &tls.Config{ServerName: a.host, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12})
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", a, err)
	}
	return tc, nil
}

// connectOpts are the CONNECT options of a go-stomp connection.
func (s *connSettings) connectOpts(a brokerAddr, extra ...func(*gostomp.Conn) error) []func(*gostomp.Conn) error {
	host := s.vhost
	if host == "" {
		host = a.host
	}
	opts := []func(*gostomp.Conn) error{
		gostomp.ConnOpt.Host(host),
		gostomp.ConnOpt.HeartBeat(s.hbSend, s.hbRecv),
		// ActiveMQ's heart-beats come up to about twice the negotiated
		// interval apart; the default grace (1x plus 5 s) dropped idle
		// connections every ~30 s.
		gostomp.ConnOpt.HeartBeatGracePeriodMultiplier(2),
		gostomp.ConnOpt.AcceptVersion(gostomp.V12, gostomp.V11, gostomp.V10),
		gostomp.ConnOpt.Logger(quietLogger{}),
		// The write channel carries ACK frames from the runtime's producer
		// goroutine; keep it deep enough that acks never wait on reads.
		gostomp.ConnOpt.WriteChannelCapacity(4096),
		gostomp.ConnOpt.ReadChannelCapacity(1024),
	}
	if s.login != "" || s.passcode != "" {
		opts = append(opts, gostomp.ConnOpt.Login(s.login, s.passcode))
	}
	return append(opts, extra...)
}

// backoff yields the exponential reconnection waits of one outage.
type backoff struct {
	first, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.first
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx ends; it reports whether the wait completed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// quietLogger drops go-stomp's own log lines: connection problems reach
// the task's log (slog) with context instead.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...interface{})   {}
func (quietLogger) Infof(string, ...interface{})    {}
func (quietLogger) Warningf(string, ...interface{}) {}
func (quietLogger) Errorf(string, ...interface{})   {}
func (quietLogger) Debug(string)                    {}
func (quietLogger) Info(string)                     {}
func (quietLogger) Warning(string)                  {}
func (quietLogger) Error(string)                    {}
