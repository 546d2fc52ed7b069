package policy

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/internal/metricsreg"
	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(SimpleClientSession{})
}

// Defaults of the policy, as in Synapse's simpleClientSession where it has one.
const (
	defaultTimeout     = 2 * time.Minute
	defaultMaxSessions = 1_000_000
	soapHeaderOff      = "off"
)

// SimpleClientSession is a load-balancing selection policy with session
// affinity, as Apache Synapse's "simpleClientSession": the client names its
// session in an HTTP header or in the SOAP header block ClientID; the first
// request of a session is placed by the fallback policy and binds the session
// to that upstream; later requests of the session go to the same upstream while
// it is available, and fail over (and rebind) to another when it is not.
type SimpleClientSession struct {
	// Name identifies the policy's session table in the admin API and across
	// config reloads. Default: simple_client_session_<server>_<n>, where
	// <server> is the name of the HTTP server (srv0, srv1, ... in a
	// Caddyfile) and <n> counts the unnamed policies of that server in config
	// order: the same on every load of the same config. Policies with the same
	// name and table settings share one table.
	Name string `json:"name,omitempty"`

	// Session is where clients carry their session, after Synapse's session
	// types: "simple_client" (default): the client names it in a header or
	// the SOAP header block ClientID; "http": the upstream hands it out in a
	// cookie (or a response header); "soap": the upstream hands out an Axis2
	// ServiceGroupId in its SOAP response. http and soap are learned from
	// responses, by the learn_sessions handler before reverse_proxy.
	Session string `json:"session,omitempty"`

	// HTTP request headers that carry the session id, tried in order. With
	// session http or soap, a response header of one of these names hands a
	// session out. Default: ["simpleClientSession"] for simple_client, none
	// for the others.
	Headers []string `json:"headers,omitempty"`

	// Cookies that carry the session id (session http only), tried in order
	// after the headers; a Set-Cookie of one of them hands a session out, and
	// one that clears it ends the session. Default: JSESSIONID, PHPSESSID,
	// phpMyAdmin, wordpress_test_cookie.
	Cookies []string `json:"cookies,omitempty"`

	// The SOAP header block that carries the session id, in Clark notation
	// ({namespace}LocalName), read from SOAP 1.1 and 1.2 envelopes when no
	// header names the session. "off" never reads the body. Default:
	// {http://ws.apache.org/ns/synapse}ClientID for simple_client,
	// {http://ws.apache.org/namespaces/axis2}ServiceGroupId for soap, off for
	// http.
	SOAPHeader string `json:"soap_header,omitempty"`

	// How long a session lives. Default: 2m (also for 0 in JSON; the
	// Caddyfile rejects `timeout 0`, and negative values are errors).
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// "sliding" (default) restarts the timeout on each request of the session;
	// "fixed" counts it from the first request, as Synapse does (the same as
	// max_lifetime set to the timeout, without an idle timeout).
	Expiry string `json:"expiry,omitempty"`

	// The most a session lives from its first binding, however busy it is
	// (Synapse's absolute session timeout); with sliding expiry it ends at
	// whichever of timeout and max_lifetime comes first. Default: no limit.
	MaxLifetime caddy.Duration `json:"max_lifetime,omitempty"`

	// Where new sessions go: "fallback" asks the fallback policy;
	// "least_sessions" takes the available upstream with the fewest live
	// sessions, ties in turn; "hash" takes the first upstream, in the
	// rendezvous order of the session id over the upstreams' dial addresses,
	// that holds fewer sessions than the bounded-load cap, so that every node
	// places a session alike without a shared store. None places on a
	// draining upstream. Default: "hash" with store redis and no fallback
	// policy set, else "fallback".
	Placement string `json:"placement,omitempty"`

	// The bounded-load factor c of placement hash, above 1: an upstream that
	// holds ceil(c*(sessions+1)/upstreams) sessions or more gets no new one.
	// Default: 1.25.
	HashBalanceFactor float64 `json:"hash_balance_factor,omitempty"`

	// The most sessions kept; beyond it the least valuable are evicted.
	// Default: 1000000.
	MaxSessions int `json:"max_sessions,omitempty"`

	// Longer session ids (in bytes) are treated as no session. Default: 256.
	MaxIDLength int `json:"max_id_length,omitempty"`

	// The most bytes of a body read to find the SOAP header block, at most
	// 1 GiB. Default: 65536.
	PeekLimit int `json:"peek_limit,omitempty"`

	// Strict answers "no upstream" for a session whose upstream is down,
	// instead of failing it over (Synapse's behaviour).
	Strict bool `json:"strict,omitempty"`

	// LogSessionIDs adds session ids to the debug logs.
	LogSessionIDs bool `json:"log_session_ids,omitempty"`

	// The policy that places new sessions and requests without a session id.
	// Default: round_robin.
	FallbackRaw json.RawMessage `json:"fallback,omitempty" caddy:"namespace=http.reverse_proxy.selection_policies inline_key=policy"`

	// Where sessions are kept. Default: this Caddy's memory.
	Store *StoreConfig `json:"store,omitempty"`

	fallback    reverseproxy.Selector
	sessionType sessionaffinity.SessionType
	ids         *sessionaffinity.IDSource
	router      *sessionaffinity.Router
	// lease holds the policy's table and drains across reloads.
	lease *state.Lease
	redis *redisLease // nil without store redis
	// learner learns sessions from responses (session http and soap).
	learner *learner
	logger  *zap.Logger
	metrics *policyMetrics
	// Request variables that carry state across the retries of one request.
	idVar, lastChoiceVar string
}

// CaddyModule returns the Caddy module information.
func (SimpleClientSession) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.simple_client_session",
		New: func() caddy.Module { return new(SimpleClientSession) },
	}
}

// Provision sets up the policy and takes over its session table and drains
// from an earlier config, if any.
func (p *SimpleClientSession) Provision(ctx caddy.Context) error {
	p.setDefaults(ctx)
	if err := p.provision(ctx); err != nil {
		return fmt.Errorf("policy %s: %w", p.Name, err)
	}
	return nil
}

func (p *SimpleClientSession) provision(ctx caddy.Context) error {
	var err error
	if p.sessionType, err = sessionaffinity.ParseSessionType(p.Session); err != nil {
		return err
	}
	if err := p.checkOptions(); err != nil {
		return err
	}
	p.logger = ctx.Logger().With(zap.String("policy", p.Name))
	if err := metricsreg.Register(ctx.GetMetricsRegistry(), metrics.collectors...); err != nil {
		return err
	}
	p.metrics = newPolicyMetrics(p.Name)
	proxy := findProxy(ctx)
	p.metrics.claimStatic(proxy)

	if p.FallbackRaw == nil {
		p.FallbackRaw = caddyconfig.JSONModuleObject(reverseproxy.RoundRobinSelection{}, "policy", "round_robin", nil)
	}
	mod, err := ctx.LoadModule(p, "FallbackRaw")
	if err != nil {
		return fmt.Errorf("loading fallback selection policy: %w", err)
	}
	p.fallback = mod.(reverseproxy.Selector)

	soapHeader := p.SOAPHeader
	if soapHeader == soapHeaderOff {
		soapHeader = ""
	}
	if p.ids, err = sessionaffinity.NewIDSource(p.Headers, soapHeader, p.PeekLimit, p.MaxIDLength); err != nil {
		return err
	}
	if err := p.ids.SetCookies(p.Cookies); err != nil {
		return err
	}
	instance, err := p.provisionState(ctx, proxy)
	if err != nil {
		return err
	}
	p.router, err = sessionaffinity.NewRouter(instance.Store, sessionaffinity.RouterConfig{
		Strict:    p.Strict,
		Placement: sessionaffinity.Placement(p.Placement),
		Drains:    instance.Drains,
		Counts:    instance.Counts,
		// Validate tells a factor without placement hash; here it would
		// read as the router's error.
		HashBalanceFactor: p.hashBalanceFactor(),
	})
	if err != nil {
		return err
	}
	p.learner = &learner{router: p.router, ids: p.ids, note: p.noteLearned}
	p.lease.Publish(instance)

	p.idVar = "soap_affinity." + p.Name + ".session_id"
	p.lastChoiceVar = "soap_affinity." + p.Name + ".last_choice"
	return nil
}

// provisionState takes the policy's table and drains from the state of its
// name, with Redis in front of them if configured, and returns what the
// policy shows the admin API: the stores the router is to use.
func (p *SimpleClientSession) provisionState(ctx caddy.Context, proxy *reverseproxy.Handler) (*state.Instance, error) {
	tableCfg := sessionaffinity.TableConfig{
		MaxSessions: p.MaxSessions,
		Timeout:     time.Duration(p.Timeout),
		Expiry:      sessionaffinity.Expiry(p.Expiry),
		MaxLifetime: time.Duration(p.MaxLifetime),
	}
	if err := tableCfg.Validate(); err != nil {
		return nil, err
	}
	var err error
	if p.lease, err = state.Acquire(p.Name, tableCfg); err != nil {
		return nil, err
	}
	table := p.lease.Table()
	instance := &state.Instance{
		Table: table, Store: table, Drains: p.lease.Drains(), Counts: table,
		Proxy: proxy, Logger: p.logger, LogSessionIDs: p.LogSessionIDs, Removed: p.removed,
	}
	if p.Store != nil && p.Store.Redis != nil {
		if p.redis, err = p.Store.Redis.provision(ctx, p.Name, table, p.logger); err != nil {
			return nil, err
		}
		instance.Store = p.redis.store
		instance.Counts = p.redis.counts
		instance.Drains = p.redis.store.Drains(p.redis.drainsKey, p.lease.Drains())
	}
	return instance, nil
}

func (p *SimpleClientSession) setDefaults(ctx caddy.Context) {
	if p.Name == "" {
		p.Name = autoName(ctx)
	}
	// The type is checked after the defaults; an unknown one gets those of
	// simple_client meanwhile.
	switch sessionaffinity.SessionType(p.Session) {
	case sessionaffinity.SessionHTTP:
		if len(p.Cookies) == 0 {
			p.Cookies = slices.Clone(sessionaffinity.DefaultCookies)
		}
		if p.SOAPHeader == "" {
			p.SOAPHeader = soapHeaderOff
		}
	case sessionaffinity.SessionSOAP:
		if p.SOAPHeader == "" {
			p.SOAPHeader = sessionaffinity.DefaultServiceGroupID
		}
	default:
		if len(p.Headers) == 0 {
			p.Headers = []string{sessionaffinity.DefaultHeader}
		}
		if p.SOAPHeader == "" {
			p.SOAPHeader = sessionaffinity.DefaultSOAPHeader
		}
	}
	// Several nodes share a Redis store: with hash they place a new session
	// alike while Redis is down, and where it was after Redis lost it. A
	// fallback policy set on purpose (weighted, say) keeps placing sessions.
	if p.Placement == "" && p.Store != nil && p.Store.Redis != nil && p.FallbackRaw == nil {
		p.Placement = string(sessionaffinity.PlaceHash)
	}
	if p.Timeout == 0 {
		p.Timeout = caddy.Duration(defaultTimeout)
	}
	if p.Expiry == "" {
		p.Expiry = string(sessionaffinity.ExpirySliding)
	}
	if p.MaxSessions == 0 {
		p.MaxSessions = defaultMaxSessions
	}
	if p.MaxIDLength == 0 {
		p.MaxIDLength = sessionaffinity.DefaultMaxIDLength
	}
	if p.PeekLimit == 0 {
		p.PeekLimit = sessionaffinity.DefaultPeekLimit
	}
}

// Validate checks the options that only make sense together. The value of
// each option is checked when it is parsed (Caddyfile) and in Provision
// (JSON), where it is turned into the ID source and the table, so that each
// error names the offending value.
func (p *SimpleClientSession) Validate() error {
	switch {
	case p.fallback == nil:
		return fmt.Errorf("policy %s: no fallback selection policy", p.Name)
	case len(p.Cookies) > 0 && p.sessionType != sessionaffinity.SessionHTTP:
		// The defaults give cookies to session http only: these were set.
		return fmt.Errorf("policy %s: cookies %q: only session http reads cookies, not session %s", p.Name, p.Cookies, p.sessionType)
	case p.HashBalanceFactor != 0 && p.Placement != string(sessionaffinity.PlaceHash):
		return fmt.Errorf("policy %s: hash_balance_factor %g is for placement hash only, not placement %s",
			p.Name, p.HashBalanceFactor, cmp.Or(p.Placement, string(sessionaffinity.PlaceFallback)))
	}
	return nil
}

// hashBalanceFactor is the factor for the router: the one configured with
// placement hash, else none.
func (p *SimpleClientSession) hashBalanceFactor() float64 {
	if p.Placement != string(sessionaffinity.PlaceHash) {
		return 0
	}
	return p.HashBalanceFactor
}

// Cleanup releases the policy's hold on its state; the table goes when no
// config uses it any more.
func (p *SimpleClientSession) Cleanup() error {
	var errs []error
	if p.metrics != nil {
		p.metrics.release()
	}
	if p.redis != nil {
		errs = append(errs, p.redis.release())
	}
	if p.lease != nil {
		forgotten, err := p.lease.Release()
		if len(forgotten) > 0 {
			p.logger.Info("drains of upstreams no longer configured forgotten", zap.Strings("upstreams", forgotten))
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Select chooses the upstream for one attempt of a request. Caddy calls it
// again for each retry of the same request, which means the previous choice
// failed. It changes nothing in the request but its body's reader: a body
// read for the session id is replayed byte for byte.
func (p *SimpleClientSession) Select(pool reverseproxy.UpstreamPool, r *http.Request, w http.ResponseWriter) *reverseproxy.Upstream {
	id := p.sessionID(r)
	previous, retry := caddyhttp.GetVar(r.Context(), p.lastChoiceVar).(*reverseproxy.Upstream)
	d := p.router.Route(id, sessionaffinity.Attempt{
		Pool:   upstreamKeys(pool),
		Failed: upstreamKey(previous),
		Place:  func(drains sessionaffinity.DrainReader) int { return p.placeFallback(pool, drains, r, w) },
	})
	p.noteRoute(pool, d, id, retry)
	chosen := upstreamAt(pool, d.Upstream)
	if chosen != nil || d.Outcome == sessionaffinity.NoSession {
		// Remembered for the retries: the upstream to avoid, and (even nil)
		// that a request without a session was counted already.
		caddyhttp.SetVar(r.Context(), p.lastChoiceVar, chosen)
	}
	if p.sessionType.Learned() {
		p.offerLearning(r, chosen, id, d)
	}
	return chosen
}

// placeFallback asks the fallback policy for an upstream, showing it only
// the upstreams that are not draining (when drains is not nil), and returns
// its index in pool.
func (p *SimpleClientSession) placeFallback(pool reverseproxy.UpstreamPool, drains sessionaffinity.DrainReader, r *http.Request, w http.ResponseWriter) int {
	shown := pool
	if drains != nil {
		shown = make(reverseproxy.UpstreamPool, 0, len(pool))
		for _, u := range pool {
			if !drains.Draining(u.String()) {
				shown = append(shown, u)
			}
		}
	}
	return slices.Index(pool, p.fallback.Select(shown, r, w))
}

// sessionID returns the request's session id: an HTTP header first, else the
// SOAP header block, which is read once per request and remembered for retries.
func (p *SimpleClientSession) sessionID(r *http.Request) string {
	if id := p.ids.FromHeaders(r.Header); id != "" {
		return id
	}
	if !p.ids.ReadsBody() || !hasEnvelope(r) {
		return ""
	}
	if id, peeked := caddyhttp.GetVar(r.Context(), p.idVar).(string); peeked {
		return id
	}
	id, outcome, replay := p.ids.PeekID(r.Body, r.ContentLength, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"))
	r.Body = replay
	caddyhttp.SetVar(r.Context(), p.idVar, id)
	p.notePeek(id, outcome)
	return id
}

// hasEnvelope reports whether the request has a body that may carry a SOAP
// envelope, to find a session id in: XML or MTOM, maybe compressed.
func hasEnvelope(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 && soap.CarriesEnvelope(r.Header.Get("Content-Type"))
}

// notePeek counts and logs one look into a request body.
func (p *SimpleClientSession) notePeek(id string, outcome sessionaffinity.PeekOutcome) {
	p.metrics.peeked(outcome)
	if ce := p.logger.Check(zap.DebugLevel, "looked for session id in SOAP header"); ce != nil {
		ce.Write(sessionFields(p.LogSessionIDs, id, zap.Stringer("outcome", outcome))...)
	}
}

// noteRoute counts and logs what the router did with one attempt.
func (p *SimpleClientSession) noteRoute(pool reverseproxy.UpstreamPool, d sessionaffinity.Decision, id string, retry bool) {
	switch d.Outcome {
	case sessionaffinity.NoSession:
		if !retry {
			p.metrics.noSession.Inc()
		}
	case sessionaffinity.Bound, sessionaffinity.LostBind:
		to := pool[d.Upstream].String()
		if d.Outcome == sessionaffinity.Bound {
			p.metrics.bound(to, pool)
		}
		if ce := p.logger.Check(zap.DebugLevel, "session bound"); ce != nil {
			ce.Write(sessionFields(p.LogSessionIDs, id, zap.String("upstream", to))...)
		}
	case sessionaffinity.Rebound, sessionaffinity.LostRebind, sessionaffinity.JoinedRebind:
		to := pool[d.Upstream].String()
		msg := "session rebound"
		switch d.Outcome {
		case sessionaffinity.Rebound:
			p.metrics.rebinds[d.Reason].Inc()
			p.metrics.bound(to, pool)
		case sessionaffinity.JoinedRebind:
			// Another request (maybe on another node) made the move and
			// counted it; this one only follows it.
			msg = "session followed a concurrent rebind"
		}
		if ce := p.logger.Check(zap.DebugLevel, msg); ce != nil {
			ce.Write(sessionFields(p.LogSessionIDs, id,
				zap.String("from", d.From), zap.String("to", to), zap.Stringer("reason", d.Reason))...)
		}
	case sessionaffinity.Refused:
		if ce := p.logger.Check(zap.DebugLevel, "session upstream unavailable; strict, not failing over"); ce != nil {
			ce.Write(sessionFields(p.LogSessionIDs, id, zap.String("upstream", d.From), zap.Stringer("reason", d.Reason))...)
		}
	}
}

// upstreamKeys shows the pool to the router: each upstream by its dial
// address, the key bindings are stored under.
func upstreamKeys(pool reverseproxy.UpstreamPool) sessionaffinity.Pool {
	return sessionaffinity.Pool{
		Len:       len(pool),
		Key:       func(i int) string { return pool[i].String() },
		Available: func(i int) bool { return pool[i].Available() },
	}
}

// upstreamKey is the key of u, or "" for none.
func upstreamKey(u *reverseproxy.Upstream) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// upstreamAt is pool[i], or nil for a negative i (no upstream).
func upstreamAt(pool reverseproxy.UpstreamPool, i int) *reverseproxy.Upstream {
	if i < 0 {
		return nil
	}
	return pool[i]
}

// Interface guards
var (
	_ reverseproxy.Selector = (*SimpleClientSession)(nil)
	_ caddy.Provisioner     = (*SimpleClientSession)(nil)
	_ caddy.Validator       = (*SimpleClientSession)(nil)
	_ caddy.CleanerUpper    = (*SimpleClientSession)(nil)
)

// removed counts and logs a session that left the table on its own.
func (p *SimpleClientSession) removed(id, upstream string, cause sessionaffinity.RemovalCause) {
	p.metrics.removed(cause)
	if ce := p.logger.Check(zap.DebugLevel, "session removed"); ce != nil {
		ce.Write(sessionFields(p.LogSessionIDs, id, zap.String("upstream", upstream), zap.String("cause", string(cause)))...)
	}
}

// findProxy finds the reverse_proxy handler being provisioned with the policy.
func findProxy(ctx caddy.Context) *reverseproxy.Handler {
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			return h
		}
	}
	return nil
}
