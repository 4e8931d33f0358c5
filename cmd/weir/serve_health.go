package main

// GET /health and GET /ready of `weir serve`, in Kafka Connect's KIP-1017
// shape {"status","message"} (plus cluster_id and kafka_addr when healthy):
//
//	/health  200 healthy; 503 starting, or the broker cannot serve
//	         (broker.Healthy); 500 unhealthy when an extension's check
//	         fails (the connector runtime: a FAILED connector or task)
//	/ready   200 when the node can serve Kafka clients and every
//	         extension is ready (the runtime has read its config topic);
//	         503 otherwise. A FAILED connector does not make a node unready.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/weirlog/weir/core/broker"
)

// errServeStarting marks a check's error as "still starting" (503) rather
// than "unhealthy" (500).
var errServeStarting = errors.New("starting")

// serveCheck is what an extension adds to /health and /ready. Either
// function may be nil.
type serveCheck struct {
	name   string
	health func() error
	ready  func() error
}

// serveChecks collects the checks of one `weir serve` run.
type serveChecks struct {
	mu     sync.Mutex
	checks []serveCheck
}

func (s *serveChecks) add(c serveCheck) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks = append(s.checks, c)
}

func (s *serveChecks) list() []serveCheck {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]serveCheck(nil), s.checks...)
}

func writeStatus(w http.ResponseWriter, code int, body map[string]string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func healthHandler(b *broker.Broker, checks *serveChecks) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := b.Healthy(); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "unhealthy", "message": "broker: " + err.Error()})
			return
		}
		var starting, unhealthy []string
		for _, c := range checks.list() {
			if c.health == nil {
				continue
			}
			if err := c.health(); errors.Is(err, errServeStarting) {
				starting = append(starting, c.name+": "+err.Error())
			} else if err != nil {
				unhealthy = append(unhealthy, c.name+": "+err.Error())
			}
		}
		switch {
		case len(unhealthy) > 0:
			writeStatus(w, http.StatusInternalServerError, map[string]string{"status": "unhealthy", "message": strings.Join(unhealthy, "; ")})
		case len(starting) > 0:
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "message": strings.Join(starting, "; ")})
		default:
			writeStatus(w, http.StatusOK, map[string]string{"status": "healthy", "message": "The node has completed startup and serves requests.",
				"cluster_id": b.ClusterID(), "kafka_addr": b.Addr()})
		}
	}
}

func readyHandler(b *broker.Broker, checks *serveChecks) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := b.Healthy(); err != nil {
			writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "message": "broker: " + err.Error()})
			return
		}
		for _, c := range checks.list() {
			if c.ready == nil {
				continue
			}
			if err := c.ready(); err != nil {
				writeStatus(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "message": c.name + ": " + err.Error()})
				return
			}
		}
		writeStatus(w, http.StatusOK, map[string]string{"status": "ready", "message": "The node serves Kafka clients and the REST API."})
	}
}
