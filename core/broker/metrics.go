package broker

import (
	"strconv"
	"sync/atomic"
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
	// KIP-392 (follower_fetch.go)
	followerFetched    prometheus.Counter
	preferredRedirects prometheus.Counter

	badFrames         prometheus.Counter
	idleClosed        prometheus.Counter
	writeTimeouts     prometheus.Counter
	connRejected      *prometheus.CounterVec
	storageErrors     *prometheus.CounterVec
	autoCreateLimited prometheus.Counter

	// per-key children, resolved on a key's first request (so only APIs
	// that were called have series) and then without a label lookup.
	byKey [maxAPIKey]atomic.Pointer[keyMetrics]
}

// maxAPIKey bounds the API keys (Kafka's are below 100).
const maxAPIKey = 128

type keyMetrics struct {
	requests prometheus.Counter
	latency  prometheus.Observer
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
		produced: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "produce_bytes_total", Help: "Record batch bytes appended by producers."}),
		fetched:  prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "fetch_bytes_total", Help: "Record batch bytes served to fetchers."}),
		zeroCopy: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "fetch_zero_copy_responses_total", Help: "Fetch responses whose record bytes were sent with sendfile."}),
		followerFetched: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "follower_fetch_bytes_total",
			Help: "Record batch bytes this broker served to consumers from follower replicas (KIP-392 fetch from the closest replica)."}),
		preferredRedirects: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "preferred_read_replica_total",
			Help: "Consumer fetches of partitions this broker leads that it sent to a follower in the consumer's rack (KIP-392)."}),
		badFrames:     prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "bad_frames_total", Help: "Connections closed for a malformed, oversized or unsupported request."}),
		idleClosed:    prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_idle_closed_total", Help: "Connections closed after connections.max.idle.ms without a request."}),
		writeTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_write_timeouts_total", Help: "Connections closed because the client stopped reading responses."}),
		connRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "connections_rejected_total",
			Help: "Connections closed on accept, by the limit they hit (max.connections, max.connections.per.ip)."}, []string{"limit"}),
		autoCreateLimited: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "weir", Subsystem: "broker", Name: "auto_create_limited_total",
			Help: "Topics not auto-created because of auto.create.topics.per.second."}),
		storageErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "weir", Subsystem: "log", Name: "storage_errors_total",
			Help: "Failed storage operations (write, fsync, truncate, checkpoint, directory), by partition."}, []string{"topic", "partition"}),
	}
	for _, c := range []prometheus.Collector{m.bytesIn, m.bytesOut, m.connections, m.partitions, m.topics, m.requests, m.latency, m.produced, m.fetched, m.zeroCopy,
		m.followerFetched, m.preferredRedirects,
		m.badFrames, m.idleClosed, m.writeTimeouts, m.connRejected, m.storageErrors, m.autoCreateLimited,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "weir", Subsystem: "broker", Name: "queued_request_bytes",
			Help: "Bytes of request frames read but not yet handled, over all connections (bounded by queued.max.request.bytes)."},
			func() float64 { return float64(b.queued.inUse()) })} {
		reg.MustRegister(c)
	}
	if b != nil {
		reg.MustRegister(&partitionCollector{b: b})
	}
	return m
}

func (m *metrics) observe(key int16, d time.Duration) {
	if key < 0 || int(key) >= maxAPIKey {
		return
	}
	km := m.byKey[key].Load()
	if km == nil {
		name := kmsg.NameForKey(key)
		km = &keyMetrics{requests: m.requests.WithLabelValues(name, strconv.Itoa(int(key))), latency: m.latency.WithLabelValues(name)}
		m.byKey[key].Store(km)
	}
	km.requests.Inc()
	km.latency.Observe(d.Seconds())
}

// partitionCollector reports per-partition log metrics and consumer-group
// lag at scrape time, from the served partitions and the coordinator's
// committed offsets: nothing is kept up to date on the hot path. Names of
// the lag metrics follow kafka_exporter's (kafka_consumergroup_lag), lag
// being the high watermark minus the committed offset.
type partitionCollector struct{ b *Broker }

var (
	descLogEnd       = prometheus.NewDesc("weir_log_end_offset", "Next offset to be written in the partition (log end offset).", []string{"topic", "partition"}, nil)
	descLogStart     = prometheus.NewDesc("weir_log_start_offset", "First offset still in the partition.", []string{"topic", "partition"}, nil)
	descLogSize      = prometheus.NewDesc("weir_log_size_bytes", "Bytes of the partition's segments.", []string{"topic", "partition"}, nil)
	descHW           = prometheus.NewDesc("weir_partition_high_watermark", "The partition's high watermark (what consumers may read up to).", []string{"topic", "partition"}, nil)
	descGroupOffset  = prometheus.NewDesc("weir_consumergroup_current_offset", "A consumer group's committed offset for a partition.", []string{"group", "topic", "partition"}, nil)
	descGroupLag     = prometheus.NewDesc("weir_consumergroup_lag", "Records between a group's committed offset and the partition's high watermark.", []string{"group", "topic", "partition"}, nil)
	descGroupMembers = prometheus.NewDesc("weir_consumergroup_members", "Members of a consumer group, by its state.", []string{"group", "state"}, nil)
)

func (pc *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descLogEnd, descLogStart, descLogSize, descHW, descGroupOffset, descGroupLag, descGroupMembers} {
		ch <- d
	}
}

func (pc *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	topics := pc.b.topics.Load()
	if topics == nil {
		return
	}
	for name, t := range *topics {
		for i, p := range t.parts {
			if p == nil {
				continue
			}
			part := strconv.Itoa(i)
			ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(p.log.EndOffset()), name, part)
			ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(p.log.StartOffset()), name, part)
			ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(p.log.Size()), name, part)
			ch <- prometheus.MustNewConstMetric(descHW, prometheus.GaugeValue, float64(p.highWatermark()), name, part)
		}
	}
	g := pc.b.groupsLoaded.Load()
	if g == nil {
		return
	}
	for _, gs := range g.Summaries() {
		ch <- prometheus.MustNewConstMetric(descGroupMembers, prometheus.GaugeValue, float64(gs.Members), gs.Group, gs.State)
	}
	for _, o := range g.CommittedOffsets() {
		p, ok := pc.b.partition(o.Topic, o.Partition)
		if !ok || p == nil {
			continue
		}
		part := strconv.Itoa(int(o.Partition))
		ch <- prometheus.MustNewConstMetric(descGroupOffset, prometheus.GaugeValue, float64(o.Offset), o.Group, o.Topic, part)
		lag := max(p.highWatermark()-o.Offset, 0)
		ch <- prometheus.MustNewConstMetric(descGroupLag, prometheus.GaugeValue, float64(lag), o.Group, o.Topic, part)
	}
}

func (m *metrics) setPartitions(topics map[string]*topicParts) {
	n := 0
	for _, t := range topics {
		n += len(t.parts)
	}
	m.partitions.Set(float64(n))
	m.topics.Set(float64(len(topics)))
}
