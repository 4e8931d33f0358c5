package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/weirlog/weir/plugins"
)

// restClient speaks Kafka Connect's REST API to one worker.
type restClient struct {
	base string
	hc   *http.Client
}

func newREST(base string) *restClient {
	return &restClient{base: base, hc: &http.Client{Timeout: 30 * time.Second}}
}

// restError is a non-2xx answer.
type restError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	Body    string
}

func (e *restError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, e.Body)
}

func (c *restClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case json.RawMessage:
			rd = bytes.NewReader(b)
		default:
			j, err := json.Marshal(body)
			if err != nil {
				return err
			}
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &restError{Status: resp.StatusCode, Body: string(b)}
		_ = json.Unmarshal(b, e)
		return fmt.Errorf("%s %s: %w", method, path, e)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode %q: %w", method, path, b, err)
		}
	}
	return nil
}

// Status is GET /connectors/{c}/status.
type Status struct {
	Name      string      `json:"name"`
	Connector StateInfo   `json:"connector"`
	Tasks     []TaskState `json:"tasks"`
}

// StateInfo is the state of a connector.
type StateInfo struct {
	State    string  `json:"state"`
	WorkerID string  `json:"worker_id"`
	Trace    *string `json:"trace,omitempty"`
}

// TaskState is the state of one task.
type TaskState struct {
	ID int `json:"id"`
	StateInfo
}

func (c *restClient) putConfig(ctx context.Context, name string, cfg map[string]string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/config", cfg, nil)
}

func (c *restClient) deleteConnector(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name), nil, nil)
}

func (c *restClient) status(ctx context.Context, name string) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/status", nil, &s)
	return s, err
}

func (c *restClient) target(ctx context.Context, name, verb string) error {
	return c.do(ctx, http.MethodPut, "/connectors/"+url.PathEscape(name)+"/"+verb, nil, nil)
}

func (c *restClient) restartTask(ctx context.Context, name string, task int) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("/connectors/%s/tasks/%d/restart", url.PathEscape(name), task), nil, nil)
}

func (c *restClient) offsets(ctx context.Context, name string) (json.RawMessage, error) {
	var raw json.RawMessage
	err := c.do(ctx, http.MethodGet, "/connectors/"+url.PathEscape(name)+"/offsets", nil, &raw)
	return raw, err
}

func (c *restClient) patchOffsets(ctx context.Context, name string, body json.RawMessage) error {
	return c.do(ctx, http.MethodPatch, "/connectors/"+url.PathEscape(name)+"/offsets", body, nil)
}

func (c *restClient) deleteOffsets(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/connectors/"+url.PathEscape(name)+"/offsets", nil, nil)
}

func (c *restClient) pluginConfig(ctx context.Context, class string) ([]plugins.ConfigKeyInfo, error) {
	var out []plugins.ConfigKeyInfo
	err := c.do(ctx, http.MethodGet, "/connector-plugins/"+url.PathEscape(class)+"/config", nil, &out)
	return out, err
}

func (c *restClient) validate(ctx context.Context, class string, cfg map[string]string) (plugins.ConfigInfos, error) {
	var out plugins.ConfigInfos
	err := c.do(ctx, http.MethodPut, "/connector-plugins/"+url.PathEscape(class)+"/config/validate", cfg, &out)
	return out, err
}
