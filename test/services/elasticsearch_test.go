//go:build services

package services_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
)

func TestElasticsearch(t *testing.T) {
	// Unmodified client: its product check (X-Elastic-Product) stays on.
	es, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: []string{"http://" + addr("WEIR_ES_PORT", "9200")},
	})
	if err != nil {
		t.Fatal(err)
	}
	index := strings.ToLower(unique("weir-smoke"))

	var body bytes.Buffer
	const n = 5
	for i := 0; i < n; i++ {
		fmt.Fprintf(&body, `{"index":{"_index":%q,"_id":"%d"}}`+"\n", index, i)
		fmt.Fprintf(&body, `{"n":%d,"msg":"record %d from weir"}`+"\n", i, i)
	}
	res, err := es.Bulk(&body)
	if err != nil {
		hint(t, "elasticsearch", err)
	}
	var bulk struct {
		Errors bool              `json:"errors"`
		Items  []json.RawMessage `json:"items"`
	}
	if err := json.NewDecoder(res.Body).Decode(&bulk); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.IsError() || bulk.Errors || len(bulk.Items) != n {
		t.Fatalf("bulk: status %s errors=%v items=%d", res.Status(), bulk.Errors, len(bulk.Items))
	}
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		t.Fatalf("X-Elastic-Product = %q", res.Header.Get("X-Elastic-Product"))
	}

	res, err = es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))
	if err != nil || res.IsError() {
		t.Fatalf("refresh: %v %v", err, res)
	}
	res.Body.Close()

	res, err = es.Search(
		es.Search.WithIndex(index),
		es.Search.WithBody(strings.NewReader(`{"query":{"match":{"msg":"weir"}},"size":10}`)),
		es.Search.WithTrackTotalHits(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatalf("search: %s", res.String())
	}
	var sr struct {
		Hits struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(res.Body).Decode(&sr); err != nil {
		t.Fatal(err)
	}
	if sr.Hits.Total.Value != n {
		t.Fatalf("search hits = %d, want %d", sr.Hits.Total.Value, n)
	}

	res, err = es.Indices.Delete([]string{index})
	if err == nil {
		res.Body.Close()
	}
}
