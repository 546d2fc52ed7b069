package synapse

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Synapse's defaults for an endpoint that fails: suspended for 30 s at the
// first failure; a session lives 2 minutes from its first message.
const (
	defaultSuspend        = 30 * time.Second
	defaultSessionTimeout = 2 * time.Minute
)

const (
	algorithmPrefix   = "org.apache.synapse.endpoints.algorithms."
	supportedEndpoint = "supported: address, http, wsdl, loadbalance, failover, <endpoint key=...> and <endpoint template=...>"
)

// leaf is an address endpoint, a member of a group or alone.
type leaf struct {
	el         *etree.Element // the address element
	scheme     string
	dial, path string
	addressing *addressing
	health     health
	weight     int
	method     string // of an http endpoint: sent with this method
	exact      bool   // the path replaces the request's, sub-path and query dropped
	query      string // with exact: the query sent
}

// call maps an endpoint (inline or by key) to where the request goes. name
// names the session table of a loadbalance with a session.
func (c *compiler) call(ep *etree.Element, name string) (*call, error) {
	ep, body, err := c.endpointBody(ep)
	if err != nil {
		return nil, err
	}
	sess := ep.SelectElement("session")
	if sess != nil && body.Tag != "loadbalance" {
		return nil, c.errorf(sess, "a session is supported on a loadbalance endpoint only")
	}
	if isLeaf(body) {
		l, err := c.leaf(ep, body)
		if err != nil {
			return nil, err
		}
		return c.group(body, []*leaf{l}, "", 0)
	}
	var members []*leaf
	for _, m := range body.ChildElements() {
		if m.Tag == "description" {
			continue
		}
		if m.Tag != "endpoint" {
			return nil, c.errorf(m, "not supported in <%s> (only endpoints)", body.Tag)
		}
		l, err := c.member(m)
		if err != nil {
			return nil, err
		}
		members = append(members, l)
	}
	if len(members) == 0 {
		return nil, c.errorf(body, "no endpoints")
	}
	retries := len(members) - 1
	if body.Tag == "failover" {
		if body.SelectAttrValue("dynamic", "true") == "false" {
			c.warnf(body, "dynamic=\"false\": Caddy goes back to the first endpoint as soon as it is available again, as dynamic failover does")
		}
		return c.group(body, members, "first", retries)
	}
	if body.SelectAttrValue("failover", "true") == "false" {
		retries = 0
	}
	policy, err := c.algorithm(body, members)
	if err != nil {
		return nil, err
	}
	cl, err := c.group(body, members, policy, retries)
	if err != nil {
		return nil, err
	}
	weighted := slices.ContainsFunc(members, func(m *leaf) bool { return m.weight != members[0].weight })
	if sess == nil {
		if policy == "least_conn" {
			c.warnf(body, "WeightedRRLCAlgorithm without a session: least_conn, the upstream with the fewest requests in flight%s", cond(weighted, ", loadbalance.weight ignored", ""))
		}
		return cl, nil
	}
	if cl.session, err = c.session(sess); err != nil {
		return nil, err
	}
	cl.name = name
	if policy == "least_conn" {
		// Synapse places new sessions by the endpoints' connections; the
		// policy places them by their live sessions, least_conn the requests
		// without a session.
		cl.placement = "least_sessions"
		if weighted {
			c.warnf(body, "loadbalance.weight is ignored: new sessions go to the upstream with the fewest live sessions")
		}
	}
	return cl, nil
}

// resolve follows endpoint keys to the endpoint they name.
func (c *compiler) resolve(ep *etree.Element) (*etree.Element, error) {
	var chain []string
	for key := ep.SelectAttrValue("key", ""); key != ""; key = ep.SelectAttrValue("key", "") {
		if slices.Contains(chain, key) {
			return nil, c.errorf(ep, "endpoint %q refers to itself (%s -> %s)", key, strings.Join(chain, " -> "), key)
		}
		named, err := c.named(ep, "endpoint", key)
		if err != nil {
			return nil, err
		}
		chain = append(chain, key)
		ep = named
	}
	if ep.SelectAttr("key-expression") != nil {
		return nil, c.errorf(ep, "key-expression is not supported: only key")
	}
	if ep.SelectAttr("template") != nil {
		return c.endpointTemplate(ep)
	}
	return ep, nil
}

// endpointBody follows ep's key, if any, to the endpoint it names, and finds
// the element that says what kind of endpoint that is.
func (c *compiler) endpointBody(ep *etree.Element) (resolved, body *etree.Element, err error) {
	if ep, err = c.resolve(ep); err != nil {
		return nil, nil, err
	}
	for _, ch := range ep.ChildElements() {
		switch ch.Tag {
		case "session", "property", "description":
			continue
		case "address", "http", "wsdl", "loadbalance", "failover":
			if body != nil {
				return nil, nil, c.errorf(ch, "a second endpoint body in one endpoint")
			}
			body = ch
			if ch.Tag == "wsdl" {
				if body, err = c.wsdlAddress(ch); err != nil {
					return nil, nil, err
				}
			}
		default:
			return nil, nil, c.errorf(ch, "endpoint not supported (%s)", supportedEndpoint)
		}
	}
	if body == nil {
		return nil, nil, c.errorf(ep, "no endpoint body (%s)", supportedEndpoint)
	}
	return ep, body, nil
}

// member maps a member of a loadbalance or failover: an address endpoint.
func (c *compiler) member(m *etree.Element) (*leaf, error) {
	ep, body, err := c.endpointBody(m)
	if err != nil {
		return nil, err
	}
	if !isLeaf(body) {
		return nil, c.errorf(body, "a nested %s is not supported: members must be address, http or wsdl endpoints", body.Tag)
	}
	if s := ep.SelectElement("session"); s != nil {
		return nil, c.errorf(s, "a session is supported on a loadbalance endpoint only")
	}
	return c.leaf(ep, body)
}

// leaf maps an address endpoint and the properties of its endpoint.
func (c *compiler) leaf(ep, addr *etree.Element) (*leaf, error) {
	l := &leaf{el: addr, weight: 1}
	if addr.SelectAttr("optimize") != nil {
		return nil, c.errorf(addr, "optimize=%q is not supported: the message is sent as it came", addr.SelectAttrValue("optimize", ""))
	}
	if err := c.format(addr); err != nil {
		return nil, err
	}
	uri := addr.SelectAttrValue("uri", "")
	var vars []string
	if addr.Tag == "http" {
		var err error
		if uri, vars, err = c.httpURI(addr); err != nil {
			return nil, err
		}
		// With a method, Synapse drops the request's sub-path and query
		// (REST_URL_POSTFIX: Axis2FlexibleMEPClient, for an HTTP endpoint).
		l.method = c.httpMethod(addr)
		l.exact = l.method != ""
	}
	if err := c.parseURI(l, addr, uri); err != nil {
		return nil, err
	}
	if strings.Contains(l.dial, uriVarMark) {
		return nil, c.errorf(addr, "uri-template %q: a variable in the host or port is not supported", addr.SelectAttrValue("uri-template", ""))
	}
	inPath := strings.Count(l.path, uriVarMark)
	l.path, l.query = fillVars(l.path, vars[:inPath]), fillVars(l.query, vars[inPath:])
	l.health = health{failDuration: defaultSuspend, maxFails: 1}
	// Synapse reads the legacy suspendDurationOnFailure before
	// suspendOnFailure, wherever they are: initialDuration wins.
	if s := addr.SelectElement("suspendDurationOnFailure"); s != nil {
		if err := c.suspendDurationOnFailure(s, &l.health); err != nil {
			return nil, err
		}
	}
	for _, ch := range addr.ChildElements() {
		var err error
		switch ch.Tag {
		case "enableAddressing":
			l.addressing = &addressing{version: ch.SelectAttrValue("version", "")}
			if v := l.addressing.version; v != "" && v != "final" && v != "submission" {
				err = c.errorf(ch, "version %q is not supported (supported: final, submission)", v)
			}
		case "timeout":
			err = c.timeout(ch, &l.health)
		case "suspendOnFailure":
			err = c.suspendOnFailure(ch, &l.health)
		case "suspendDurationOnFailure": // read above
		case "markForSuspension":
			err = c.markForSuspension(ch, &l.health)
		case "description":
		default:
			err = c.errorf(ch, "not supported in an address endpoint (supported: enableAddressing, timeout, suspendOnFailure, suspendDurationOnFailure, markForSuspension)")
		}
		if err != nil {
			return nil, err
		}
	}
	for _, p := range ep.SelectElements("property") {
		if p.SelectAttrValue("name", "") != "loadbalance.weight" {
			c.warnf(p, "endpoint property %q changes nothing in Caddy: not mapped", p.SelectAttrValue("name", ""))
			continue
		}
		w, err := strconv.Atoi(p.SelectAttrValue("value", ""))
		if err != nil || w < 1 || w > 1_000_000 {
			return nil, c.errorf(p, "loadbalance.weight %q is not a whole number from 1 to 1000000", p.SelectAttrValue("value", ""))
		}
		l.weight = w
	}
	return l, nil
}

// parseURI splits the address into the upstream (host and port) and the path
// that the request's path is rewritten to.
func (c *compiler) parseURI(l *leaf, addr *etree.Element, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return c.errorf(addr, "uri %q is not an http or https URL with a host", raw)
	}
	if strings.ContainsAny(raw, "{}$") {
		return c.errorf(addr, "uri %q: variables are not supported", raw)
	}
	if u.Fragment != "" || (u.RawQuery != "" && !l.exact) {
		return c.errorf(addr, "uri %q: a query or fragment is not supported", raw)
	}
	port := u.Port()
	switch u.Scheme {
	case "http":
		port = cmpOr(port, "80")
	case "https":
		port = cmpOr(port, "443")
	default:
		return c.errorf(addr, "uri %q: scheme %q is not supported (supported: http, https)", raw, u.Scheme)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return c.errorf(addr, "uri %q: port %q out of range 1-65535", raw, port)
	}
	l.scheme = u.Scheme
	l.dial = net.JoinHostPort(u.Hostname(), port)
	l.path, l.query = u.EscapedPath(), u.RawQuery
	return nil
}

func cond[T any](c bool, yes, no T) T {
	if c {
		return yes
	}
	return no
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// algorithm maps a loadbalance algorithm to a Caddy selection policy.
func (c *compiler) algorithm(lb *etree.Element, members []*leaf) (string, error) {
	switch alg := strings.TrimPrefix(lb.SelectAttrValue("algorithm", "RoundRobin"), algorithmPrefix); alg {
	case "RoundRobin":
		for _, m := range members {
			if m.weight != 1 {
				c.warnf(m.el, "loadbalance.weight is ignored by the RoundRobin algorithm")
				break
			}
		}
		return "round_robin", nil
	case "WeightedRoundRobin":
		return "weighted_round_robin", nil
	case "WeightedRRLCAlgorithm":
		// Weighted least connections: see call, which maps it by whether
		// the endpoint has a session.
		return "least_conn", nil
	default:
		return "", c.errorf(lb, "algorithm %q is not supported (supported: RoundRobin, WeightedRoundRobin, WeightedRRLCAlgorithm)", lb.SelectAttrValue("algorithm", ""))
	}
}

// group checks that the members can share one reverse_proxy (one scheme,
// one path, one WS-Addressing setting) and takes their health settings from
// the first.
func (c *compiler) group(body *etree.Element, members []*leaf, policy string, retries int) (*call, error) {
	first := members[0]
	cl := &call{tls: first.scheme == "https", path: first.path, query: first.query, method: first.method, exact: first.exact, policy: policy, retries: retries, addressing: first.addressing, health: first.health}
	for _, m := range members {
		switch {
		case m.scheme != first.scheme:
			return nil, c.errorf(m.el, "scheme %s differs from the first endpoint's (%s): one group has one scheme", m.scheme, first.scheme)
		case m.method != first.method || m.exact != first.exact:
			return nil, c.errorf(m.el, "method differs from the first endpoint's: one group sends with one method")
		case m.path != first.path || m.query != first.query:
			return nil, c.errorf(m.el, "path %q differs from the first endpoint's (%q): Caddy rewrites the path before it chooses an upstream", m.path, first.path)
		case (m.addressing == nil) != (first.addressing == nil) || (m.addressing != nil && *m.addressing != *first.addressing):
			return nil, c.errorf(m.el, "enableAddressing differs from the first endpoint's: one group has one WS-Addressing setting")
		case m.health != first.health:
			c.warnf(m.el, "timeout and suspension settings differ from the first endpoint's: the first's apply to the whole group")
		}
		cl.upstreams = append(cl.upstreams, upstream{dial: m.dial, weight: m.weight})
	}
	return cl, nil
}

// session maps <session type="simpleClientSession|http|soap"> to our policy,
// with Synapse's absolute sessionTimeout.
func (c *compiler) session(s *etree.Element) (*session, error) {
	sess := &session{timeout: defaultSessionTimeout}
	switch t := s.SelectAttrValue("type", ""); t {
	case "simpleClientSession":
	case "http", "soap":
		sess.kind = t
	default:
		return nil, c.errorf(s, "session type %q is not supported (supported: simpleClientSession, http, soap)", t)
	}
	for _, ch := range s.ChildElements() {
		if ch.Tag != "sessionTimeout" {
			return nil, c.errorf(ch, "not supported in a session (supported: sessionTimeout)")
		}
		d, err := c.millis(ch, ch.Text())
		if err != nil {
			return nil, err
		}
		if d <= 0 {
			return nil, c.errorf(ch, "sessionTimeout must be positive")
		}
		sess.timeout = d
	}
	return sess, nil
}

// millis parses a duration in milliseconds, as Synapse writes them.
func (c *compiler) millis(e *etree.Element, s string) (time.Duration, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < -1 || n > int64(365*24*time.Hour/time.Millisecond) {
		return 0, c.errorf(e, "%q is not a duration in milliseconds", strings.TrimSpace(s))
	}
	return time.Duration(n) * time.Millisecond, nil
}
