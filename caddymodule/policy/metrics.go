package policy

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// The policy's Prometheus metrics. The collectors are package-level so that
// counts continue across config reloads; every config load has a new registry,
// and each policy registers them on its load's registry in Provision
// (metricsreg.Register).
var metrics = struct {
	sessions   prometheus.Collector
	upstreams  prometheus.Collector
	bindings   *prometheus.CounterVec
	rebinds    *prometheus.CounterVec
	expired    *prometheus.CounterVec
	evicted    *prometheus.CounterVec
	noSession  *prometheus.CounterVec
	soapPeeks  *prometheus.CounterVec
	learned    *prometheus.CounterVec
	redisErrs  *prometheus.CounterVec
	collectors []prometheus.Collector
}{}

const metricsPrefix = "caddy_soap_affinity_"

func init() {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricsPrefix + name, Help: help}, labels)
	}
	metrics.sessions = sessionsCollector{sessions: prometheus.NewDesc(metricsPrefix+"sessions",
		"Sessions in the policy's table.", []string{"policy"}, nil)}
	metrics.upstreams = upstreamsCollector{
		sessions: prometheus.NewDesc(metricsPrefix+"upstream_sessions",
			"Live sessions bound to the upstream.", []string{"policy", "upstream"}, nil),
		draining: prometheus.NewDesc(metricsPrefix+"upstream_draining",
			"1 while the upstream is draining (takes no new sessions), else 0.", []string{"policy", "upstream"}, nil),
		drained: prometheus.NewDesc(metricsPrefix+"upstream_drained",
			"1 once the draining upstream has no session left, else 0.", []string{"policy", "upstream"}, nil),
	}
	metrics.bindings = counter("bindings_total",
		"Sessions bound to an upstream: new sessions and sessions moved there by a rebind.", "policy", "upstream")
	metrics.rebinds = counter("rebinds_total",
		"Sessions moved to another upstream, by reason.", "policy", "reason")
	metrics.expired = counter("expirations_total",
		"Sessions forgotten because their timeout passed.", "policy")
	metrics.evicted = counter("evictions_total",
		"Sessions evicted by the max_sessions bound.", "policy")
	metrics.noSession = counter("requests_without_session_total",
		"Requests that named no session, placed by the fallback policy.", "policy")
	metrics.soapPeeks = counter("soap_peeks_total",
		"Request bodies read for the SOAP header block, by outcome.", "policy", "outcome")
	metrics.learned = counter("learned_total",
		"Sessions that upstream responses handed out (session http and soap), by outcome: learned (bound to the upstream that answered), relearned (moved there from another upstream), lost_relearn (a concurrent change won), forgotten (the upstream cleared the session cookie).", "policy", "outcome")
	metrics.redisErrs = counter("redis_errors_total",
		"Redis commands of the simple_client_session store that failed or timed out; the request was routed on the node's local session table instead.", "policy")
	metrics.collectors = []prometheus.Collector{metrics.sessions, metrics.upstreams, metrics.bindings, metrics.rebinds,
		metrics.expired, metrics.evicted, metrics.noSession, metrics.soapPeeks, metrics.learned, metrics.redisErrs}
}

// policyMetrics holds one policy's counters, resolved once at Provision so that
// counting a request costs no label lookup.
type policyMetrics struct {
	name      string
	noSession prometheus.Counter
	rebinds   map[sessionaffinity.Reason]prometheus.Counter
	peeks     [sessionaffinity.PeekReadError + 1]prometheus.Counter
	learns    [sessionaffinity.Forgotten + 1]prometheus.Counter
	claims    claimedLabels // bindings_total, by upstream

	expired, evicted prometheus.Counter
}

func newPolicyMetrics(name string) *policyMetrics {
	m := &policyMetrics{
		name:      name,
		noSession: metrics.noSession.WithLabelValues(name),
		rebinds:   map[sessionaffinity.Reason]prometheus.Counter{},
		expired:   metrics.expired.WithLabelValues(name),
		evicted:   metrics.evicted.WithLabelValues(name),
	}
	for _, reason := range sessionaffinity.Reasons {
		m.rebinds[reason] = metrics.rebinds.WithLabelValues(name, reason.String())
	}
	for o := range m.learns {
		m.learns[o] = metrics.learned.WithLabelValues(name, sessionaffinity.LearnOutcome(o).String())
	}
	for o := range m.peeks {
		m.peeks[o] = metrics.soapPeeks.WithLabelValues(name, sessionaffinity.PeekOutcome(o).String())
	}
	return m
}

func (m *policyMetrics) peeked(o sessionaffinity.PeekOutcome) {
	if int(o) < len(m.peeks) {
		m.peeks[o].Inc()
		return
	}
	metrics.soapPeeks.WithLabelValues(m.name, o.String()).Inc()
}

func (m *policyMetrics) learned(o sessionaffinity.LearnOutcome) {
	if int(o) < len(m.learns) {
		m.learns[o].Inc()
	}
}

// removed counts a session that left the table on its own.
func (m *policyMetrics) removed(cause sessionaffinity.RemovalCause) {
	switch cause {
	case sessionaffinity.RemovedExpired:
		m.expired.Inc()
	case sessionaffinity.RemovedEvicted:
		m.evicted.Inc()
	}
}

// sessionsCollector reports the size of every live table when scraped (the
// table keeps it up to date: a scrape costs O(policies)). Tables that share a
// name (a reload that changed the table settings, while the old config
// drains) report the newest one, as the admin API shows it. The sessions per
// upstream are upstreamsCollector's.
type sessionsCollector struct {
	sessions *prometheus.Desc
}

func (c sessionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.sessions }

func (c sessionsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range state.Policies() {
		if i := p.Newest(); i != nil {
			ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(i.Table.Len()), p.Name())
		}
	}
}

// upstreamsCollector reports, when scraped, the live sessions and the drain of
// every upstream of every policy's config: an upstream that leaves the config
// leaves the metrics with it.
type upstreamsCollector struct {
	sessions, draining, drained *prometheus.Desc
}

func (c upstreamsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.sessions
	ch <- c.draining
	ch <- c.drained
}

func (c upstreamsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range state.Policies() {
		name := p.Name()
		for _, u := range p.Upstreams() {
			ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.GaugeValue, float64(u.Sessions), name, u.Upstream)
			ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, oneIf(u.Draining), name, u.Upstream)
			ch <- prometheus.MustNewConstMetric(c.drained, prometheus.GaugeValue, oneIf(u.Drained), name, u.Upstream)
		}
	}
}

// oneIf is a boolean as a gauge's value.
func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
