package runtime

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the worker's Prometheus collectors, labelled by connector and
// task (Kafka Connect's connector-task-metrics, source-task-metrics,
// sink-task-metrics and task-error-metrics groups).
type metrics struct {
	polled, written, read, sent   *prometheus.CounterVec
	errors, retries, deadLettered *prometheus.CounterVec
	batch, commit                 *prometheus.HistogramVec
	sinkLag                       *prometheus.GaugeVec
	taskState, connectorState     *prometheus.GaugeVec
	malformedConfigs              prometheus.Counter
}

var taskStates = []string{stateUnassigned, stateRunning, statePaused, stateFailed, stateRestarting, stateStopped}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	lbl := []string{"connector", "task"}
	m := &metrics{
		polled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "source_records_polled_total",
			Help: "Records returned by source tasks' Poll, before transformation."}, lbl),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "source_records_written_total",
			Help: "Records source tasks wrote to the log and the log acknowledged."}, lbl),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "sink_records_read_total",
			Help: "Records sink tasks read from the log."}, lbl),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "sink_records_sent_total",
			Help: "Records handed to sink tasks' Put after transformation."}, lbl),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "errors_total",
			Help: "Errors in any stage (conversion, transformation, poll, put, produce), tolerated or not."}, append(lbl, "stage")),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "retries_total",
			Help: "Retried operations."}, lbl),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "deadletterqueue_produce_requests_total",
			Help: "Records written to the dead letter queue."}, lbl),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "weir", Subsystem: "connect", Name: "batch_duration_seconds",
			Help: "Time to process one batch (source: poll to produce; sink: put).", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, append(lbl, "kind")),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "weir", Subsystem: "connect", Name: "offset_commit_duration_seconds",
			Help: "Time to commit source or sink offsets.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)}, lbl),
		sinkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "connect", Name: "sink_lag_records",
			Help: "Records between a sink task's position and the log end, summed over its partitions."}, lbl),
		taskState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "connect", Name: "task_state",
			Help: "1 for the task's current state on this worker, 0 for the others."}, append(lbl, "state")),
		connectorState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "connect", Name: "connector_state",
			Help: "1 for the connector's current state on this worker, 0 for the others."}, []string{"connector", "state"}),
		malformedConfigs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "connect", Name: "config_records_skipped_total",
			Help: "Records of the config topic skipped because they could not be understood (logged at ERROR)."}),
	}
	for _, c := range []prometheus.Collector{m.polled, m.written, m.read, m.sent, m.errors, m.retries, m.deadLettered, m.batch, m.commit, m.sinkLag, m.taskState, m.connectorState, m.malformedConfigs} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) setTaskState(c string, t int, state string) {
	id := strconv.Itoa(t)
	for _, s := range taskStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.taskState.WithLabelValues(c, id, s).Set(v)
	}
}

func (m *metrics) setConnectorState(c string, state string) {
	for _, s := range taskStates {
		v := 0.0
		if s == state {
			v = 1
		}
		m.connectorState.WithLabelValues(c, s).Set(v)
	}
}

// forget drops a task's series when it leaves this worker.
func (m *metrics) forgetTask(c string, t int) {
	l := prometheus.Labels{"connector": c, "task": strconv.Itoa(t)}
	for _, v := range []*prometheus.CounterVec{m.polled, m.written, m.read, m.sent, m.errors, m.retries, m.deadLettered} {
		v.DeletePartialMatch(l)
	}
	m.batch.DeletePartialMatch(l)
	m.commit.DeletePartialMatch(l)
	m.sinkLag.DeletePartialMatch(l)
	m.taskState.DeletePartialMatch(l)
}
