package elasticsearch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	es "github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// newClient builds the go-elasticsearch client. Its own retries are off:
// the sink retries whole bulk requests and single items itself, with
// backoff, jitter and Retry-After, and knows which items are done.
//
// It is the base client, free of any API: the sink sends its four kinds of
// request as esapi request values (esapi.BulkRequest{…}.Do(ctx, client)).
// es.NewClient would link every one of Elasticsearch's hundreds of APIs
// into weir, 14 MB of a 55 MB binary and container image (issue 15).
func newClient(s *settings) (*es.BaseClient, error) {
	// No ResponseHeaderTimeout: read.timeout.ms is applied per request
	// (reqCtx, and the bulk watchdog, which tells a busy node from a dead
	// one).
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: max(s.inFlight, 2) * 2,
		IdleConnTimeout:     max(s.idleTimeout, 0),
	}
	if s.proxy != nil {
		tr.Proxy = http.ProxyURL(s.proxy)
	}
	if s.ssl {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !s.verifyHost} //nolint:gosec // elastic.https.ssl.endpoint.identification.algorithm="" asks for it
		if s.caFile != "" {
			pem, err := os.ReadFile(s.caFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", SSLTruststoreLocation, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: no PEM certificates in %s", SSLTruststoreLocation, s.caFile)
			}
			tc.RootCAs = pool
		}
		if s.certFile != "" {
			cert, err := tls.LoadX509KeyPair(s.certFile, s.certFile)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", SSLKeystoreLocation, err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tr.TLSClientConfig = tc
	}
	return es.NewBaseClient(es.Config{
		Addresses: s.urls, Username: s.user, Password: s.password,
		Transport: tr, DisableRetry: true, CompressRequestBody: s.compress,
	})
}

// reqCtx bounds one small request (not a bulk request) by read.timeout.ms.
func (t *SinkTask) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.s.readTO <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, t.s.readTO)
}

// noAnswerError: a bulk request had no answer within read.timeout.ms and
// Elasticsearch did not answer a health check within read.timeout.ms
// either (down, frozen or unreachable). Transient.
type noAnswerError struct {
	after time.Duration
	probe error
}

func (e *noAnswerError) Error() string {
	return fmt.Sprintf("no answer from Elasticsearch to a bulk request within %s (%s), nor to a health check: %v", e.after, ReadTimeout, e.probe)
}

// watchBulk is read.timeout.ms for a bulk request. A node that does not
// answer within it is asked GET /_cluster/health; a node that answers
// that is busy, not gone, and the bulk request is waited for (up to
// flush.timeout.ms, ctx's deadline): giving it up would send its
// documents again while Elasticsearch still writes the first copy, which
// doubles the work of a node already too busy to answer in time (the
// bench saw a loaded node fall to half its rate that way). A node that
// answers neither is given up (cancel with a *noAnswerError): the request
// is retried as any transient failure. The returned stop ends the watch
// once the response headers are there.
func (t *SinkTask) watchBulk(ctx context.Context, cancel context.CancelCauseFunc) (stop func()) {
	if t.s.readTO <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		tm := time.NewTimer(t.s.readTO)
		defer tm.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tm.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, t.s.readTO)
			res, err := esapi.ClusterHealthRequest{}.Do(pctx, t.client)
			if err == nil {
				io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
				res.Body.Close()
			}
			pcancel()
			select {
			case <-done:
				return
			default:
			}
			if err != nil {
				cancel(&noAnswerError{after: t.s.readTO, probe: err})
				return
			}
			t.log.Debug("elasticsearch sink: a bulk request is slow but the node answers; waiting", "read.timeout", t.s.readTO)
			tm.Reset(t.s.readTO)
		}
	}()
	return func() { close(done) }
}

// httpError is a non-2xx answer to a whole request.
type httpError struct {
	status     int
	retryAfter time.Duration
	body       string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("Elasticsearch answered HTTP %d: %s", e.status, e.body)
}

// transient reports whether a whole request should be retried: 429, 5xx,
// or no answer at all (connection refused, timeout).
func transient(err error) bool {
	var he *httpError
	if errors.As(err, &he) {
		return he.status == http.StatusTooManyRequests || he.status >= 500
	}
	var me *malformedError
	return err != nil && !errors.Is(err, context.Canceled) && !errors.As(err, &me)
}

// malformedError is a document Elasticsearch refused for good (a mapping
// or parse error): retrying cannot help.
type malformedError struct{ err error }

func (e *malformedError) Error() string { return e.err.Error() }
func (e *malformedError) Unwrap() error { return e.err }

func readError(status int, header http.Header, body io.Reader) *httpError {
	b, _ := io.ReadAll(io.LimitReader(body, 2048))
	he := &httpError{status: status, body: strings.TrimSpace(string(b))}
	if ra := header.Get("Retry-After"); ra != "" {
		if sec, err := strconv.Atoi(ra); err == nil && sec >= 0 {
			he.retryAfter = time.Duration(sec) * time.Second
		} else if t, err := http.ParseTime(ra); err == nil {
			he.retryAfter = time.Until(t)
		}
	}
	return he
}

// backoff is attempt's wait: exponential from base, capped, full jitter,
// and never shorter than the server's Retry-After.
func backoff(base time.Duration, attempt int, retryAfter time.Duration) time.Duration {
	b := base << min(attempt, 16)
	if b <= 0 || b > 10*time.Second {
		b = 10 * time.Second
	}
	d := time.Duration(rand.Int64N(int64(b)/2+1)) + b/2
	return max(d, retryAfter)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
