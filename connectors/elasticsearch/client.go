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
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: s.readTO,
		MaxIdleConnsPerHost:   max(s.inFlight, 2) * 2,
		IdleConnTimeout:       max(s.idleTimeout, 0),
	}
	if s.proxy != nil {
		tr.Proxy = http.ProxyURL(s.proxy)
	}
	if s.readTO == 0 {
		tr.ResponseHeaderTimeout = 0
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
