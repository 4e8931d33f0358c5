package broker

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type metrics struct {
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	connections prometheus.Gauge
	partitions  prometheus.Gauge
	topics      prometheus.Gauge
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	produced    prometheus.Counter
	fetched     prometheus.Counter
	zeroCopy    prometheus.Counter

	badFrames     prometheus.Counter
	idleClosed    prometheus.Counter
	writeTimeouts prometheus.Counter
	connRejected  *prometheus.CounterVec

	// per-key children resolved once: no label lookup per request.
	reqByKey map[int16]prometheus.Counter
	latByKey map[int16]prometheus.Observer
}

func newMetrics(reg prometheus.Registerer, b *Broker) *metrics {
	m := &metrics{
		bytesIn:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "network_bytes_in_total", Help: "Bytes of request frames received."}),
		bytesOut:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "network_bytes_out_total", Help: "Bytes of response frames sent (including zero-copy record bytes)."}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "broker", Name: "connections", Help: "Open client connections."}),
		partitions:  prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "broker", Name: "partitions", Help: "Partitions served by this broker."}),
		topics:      prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "broker", Name: "topics", Help: "Topics served by this broker."}),
		requests:    prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "requests_total", Help: "Requests handled, by API."}, []string{"api", "key"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "weir", Subsystem: "broker", Name: "request_duration_seconds", Help: "Time from a request's arrival to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(50e-6, 2.5, 14)}, []string{"api"}),
		produced:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "produce_bytes_total", Help: "Record batch bytes appended by producers."}),
		fetched:       prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "fetch_bytes_total", Help: "Record batch bytes served to fetchers."}),
		zeroCopy:      prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "fetch_zero_copy_responses_total", Help: "Fetch responses whose record bytes were sent with sendfile."}),
		badFrames:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "bad_frames_total", Help: "Connections closed for a malformed, oversized or unsupported request."}),
		idleClosed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_idle_closed_total", Help: "Connections closed after connections.max.idle.ms without a request."}),
		writeTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_write_timeouts_total", Help: "Connections closed because the client stopped reading responses."}),
		connRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_rejected_total",
			Help: "Connections closed on accept, by the limit they hit (max.connections, max.connections.per.ip)."}, []string{"limit"}),
		reqByKey: map[int16]prometheus.Counter{},
		latByKey: map[int16]prometheus.Observer{},
	}
	for _, c := range []prometheus.Collector{m.bytesIn, m.bytesOut, m.connections, m.partitions, m.topics, m.requests, m.latency, m.produced, m.fetched, m.zeroCopy,
		m.badFrames, m.idleClosed, m.writeTimeouts, m.connRejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "broker", Name: "queued_request_bytes",
			Help: "Bytes of request frames read but not yet handled, over all connections (bounded by queued.max.request.bytes)."},
			func() float64 { return float64(b.queued.inUse()) })} {
		reg.MustRegister(c)
	}
	for k := range apiKeys {
		name := kmsg.NameForKey(k)
		m.reqByKey[k] = m.requests.WithLabelValues(name, strconv.Itoa(int(k)))
		m.latByKey[k] = m.latency.WithLabelValues(name)
	}
	return m
}

func (m *metrics) observe(key int16, d time.Duration) {
	m.reqByKey[key].Inc()
	m.latByKey[key].Observe(d.Seconds())
}

func (m *metrics) setPartitions(topics map[string]*topicParts) {
	n := 0
	for _, t := range topics {
		n += len(t.parts)
	}
	m.partitions.Set(float64(n))
	m.topics.Set(float64(len(topics)))
}
