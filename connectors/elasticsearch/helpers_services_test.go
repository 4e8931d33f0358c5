//go:build services

package elasticsearch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirlog/weir/internal/testutil"
)

func esURL() string {
	port := os.Getenv("WEIR_ES_PORT")
	if port == "" {
		port = "9200"
	}
	return "http://127.0.0.1:" + port
}

var esHTTP = &http.Client{Timeout: 30 * time.Second}

// esDo sends one request to the test Elasticsearch and returns the status
// and body.
func esDo(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, esURL()+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := esHTTP.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("Elasticsearch at %s (is it running? bash test/services/elasticsearch.sh start): %w", esURL(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// needES fails the test loudly when Elasticsearch is not there. It first
// thaws a node a killed test run may have left frozen (esPause).
func needES(t testing.TB) {
	t.Helper()
	_ = esResume()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, b, err := esDo(ctx, "GET", "/_cluster/health", nil)
	if err != nil || st != 200 {
		t.Fatalf("Elasticsearch health at %s: HTTP %d %s %v", esURL(), st, b, err)
	}
}

func deleteIndex(t testing.TB, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, b, err := esDo(ctx, "DELETE", "/"+name+"?ignore_unavailable=true", nil); err != nil || st >= 300 && st != 404 {
		t.Fatalf("delete index %s: HTTP %d %s %v", name, st, b, err)
	}
}

// hit is one document read back.
type hit struct {
	ID      string         `json:"_id"`
	Version int64          `json:"_version"`
	Source  map[string]any `json:"_source"`
}

// allDocs refreshes index and returns every document in it, paging with
// a scroll (more than the 10,000 of one page).
func allDocs(ctx context.Context, index string) ([]hit, error) {
	st, b, err := esDo(ctx, "POST", "/"+index+"/_refresh", nil)
	if err != nil {
		return nil, err
	}
	if st == 404 {
		return nil, nil
	}
	if st >= 300 {
		return nil, fmt.Errorf("refresh %s: HTTP %d %s", index, st, b)
	}
	var out []hit
	path := "/" + index + "/_search?scroll=1m"
	var body any = map[string]any{"size": 10000, "version": true, "sort": []string{"_doc"}}
	var scrollID string
	defer func() {
		if scrollID != "" {
			esDo(context.Background(), "DELETE", "/_search/scroll", map[string]any{"scroll_id": scrollID})
		}
	}()
	for {
		st, b, err := esDo(ctx, "POST", path, body)
		if err != nil {
			return nil, err
		}
		if st >= 300 {
			return nil, fmt.Errorf("search %s: HTTP %d %.300s", index, st, b)
		}
		var r struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []hit `json:"hits"`
			} `json:"hits"`
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&r); err != nil {
			return nil, err
		}
		scrollID = r.ScrollID
		out = append(out, r.Hits.Hits...)
		if len(r.Hits.Hits) == 0 {
			return out, nil
		}
		path, body = "/_search/scroll", map[string]any{"scroll": "1m", "scroll_id": scrollID}
	}
}

func docCount(ctx context.Context, index string) (int, error) {
	if _, _, err := esDo(ctx, "POST", "/"+index+"/_refresh", nil); err != nil {
		return 0, err
	}
	st, b, err := esDo(ctx, "GET", "/"+index+"/_count", nil)
	if err != nil {
		return 0, err
	}
	if st == 404 {
		return 0, nil
	}
	var r struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(b, &r); err != nil || st >= 300 {
		return 0, fmt.Errorf("count %s: HTTP %d %s %v", index, st, b, err)
	}
	return r.Count, nil
}

// esProxy stands between the sink and Elasticsearch: storm answers the
// next bulk requests 429 with a Retry-After (a real node's 429s need a
// write queue too small for every other test); Down makes it refuse
// every connection.
type esProxy struct {
	addr   string
	target *url.URL
	mu     sync.Mutex
	srv    *http.Server
	storm  atomic.Int64 // bulk requests still to refuse with 429
	stormd atomic.Int64 // bulk requests refused so far
	bulks  atomic.Int64 // bulk requests passed through
	// retryAfter is the storm's Retry-After header ["0"]; set before the
	// storm starts.
	retryAfter string
}

func newESProxy(t testing.TB) *esProxy {
	t.Helper()
	u, _ := url.Parse(esURL())
	p := &esProxy{target: u}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(func() { _ = p.Down() })
	return p
}

func (p *esProxy) URL() string { return "http://" + p.addr }

func (p *esProxy) serve(ln net.Listener) {
	rp := httputil.NewSingleHostReverseProxy(p.target)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_bulk") {
			if p.storm.Add(-1) >= 0 {
				p.stormd.Add(1)
				io.Copy(io.Discard, r.Body)
				ra := p.retryAfter
				if ra == "" {
					ra = "0"
				}
				w.Header().Set("Retry-After", ra)
				w.Header().Set("X-Elastic-Product", "Elasticsearch")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				io.WriteString(w, `{"error":{"type":"es_rejected_execution_exception","reason":"rejected execution (weir test storm)"},"status":429}`)
				return
			}
			p.storm.Store(0)
			p.bulks.Add(1)
		}
		rp.ServeHTTP(w, r)
	})
	p.mu.Lock()
	p.srv = &http.Server{Handler: h}
	srv := p.srv
	p.mu.Unlock()
	go srv.Serve(ln)
}

func (p *esProxy) Down() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv == nil {
		return nil
	}
	err := p.srv.Close()
	p.srv = nil
	return err
}

func (p *esProxy) Up() error {
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(ln)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("proxy back on %s: %w", p.addr, err)
}

// esPID is the Elasticsearch JVM's pid, from test/services' PID file.
func esPID() (int, error) {
	dir := testutil.ServicesDir()
	b, err := os.ReadFile(filepath.Join(dir, "elasticsearch.pid"))
	if err != nil {
		return 0, fmt.Errorf("Elasticsearch PID file (test/services/elasticsearch.sh): %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("Elasticsearch PID file: %w", err)
	}
	return pid, nil
}

// esPause freezes the Elasticsearch JVM (SIGSTOP): a real outage of the
// one node, which only this package's tests use. The test's cleanup
// thaws it whatever happens; a run killed before that is thawed by the
// next needES.
func esPause(t testing.TB) error {
	pid, err := esPID()
	if err != nil {
		return err
	}
	t.Cleanup(func() { _ = esResume() })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP Elasticsearch (pid %d): %w", pid, err)
	}
	return nil
}

// esResume thaws the JVM (SIGCONT) and waits until it answers again.
func esResume() error {
	pid, err := esPID()
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("SIGCONT Elasticsearch (pid %d): %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		st, _, err := esDo(rctx, "GET", "/_cluster/health", nil)
		rcancel()
		if err == nil && st == 200 {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("Elasticsearch did not answer within 60s of SIGCONT: HTTP %d %v", st, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
