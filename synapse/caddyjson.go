package synapse

import (
	"cmp"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// The Caddy JSON the model becomes, written with plain maps so that this
// package needs no Caddy import. Keys are sorted by encoding/json, which
// keeps the output stable.

type object = map[string]any

// Server names in the adapted config.
const (
	serverHTTP  = "synapse_http"
	serverHTTPS = "synapse_https"
)

func caddyConfig(services []*service, opts Options) object {
	var httpRoutes, httpsRoutes []any
	for _, s := range services {
		for _, r := range s.routes {
			rt := routeJSON(r, opts)
			if s.http {
				httpRoutes = append(httpRoutes, rt)
			}
			if s.https {
				httpsRoutes = append(httpsRoutes, rt)
			}
		}
	}
	servers := object{}
	apps := object{"http": object{"servers": servers}}
	if httpRoutes != nil {
		servers[serverHTTP] = object{
			"listen": []any{":" + strconv.Itoa(cmpPort(opts.HTTPPort, DefaultHTTPPort))},
			"routes": httpRoutes,
		}
	}
	if httpsRoutes != nil {
		// MI serves HTTPS with its own key store; Caddy issues a certificate
		// from its local CA at the first handshake, for whatever name the
		// client asks (the internal issuer needs no permission module).
		servers[serverHTTPS] = object{
			"listen":                  []any{":" + strconv.Itoa(cmpPort(opts.HTTPSPort, DefaultHTTPSPort))},
			"routes":                  httpsRoutes,
			"tls_connection_policies": []any{object{}},
			"automatic_https":         object{"disable_redirects": true},
		}
		apps["tls"] = object{"automation": object{"policies": []any{object{
			"issuers":   []any{object{"module": "internal"}},
			"on_demand": true,
		}}}}
		apps["pki"] = object{"certificate_authorities": object{"local": object{"install_trust": false}}}
	}
	if len(servers) == 0 {
		return object{}
	}
	return object{"apps": apps}
}

func cmpPort(p, def int) int {
	if p == 0 {
		return def
	}
	return p
}

func routeJSON(r *route, opts Options) object {
	base := object{}
	switch {
	case r.pathRegexp != "":
		base["path_regexp"] = object{"pattern": r.pathRegexp}
	case len(r.paths) > 0:
		base["path"] = strings2any(r.paths)
	}
	if len(r.not) > 0 {
		not := make([]any, len(r.not))
		for i, m := range r.not {
			not[i] = requestMatchJSON(m, object{})
		}
		base["not"] = not
	}
	if len(r.header) > 0 {
		header := object{}
		for name, values := range r.header {
			header[name] = strings2any(values)
		}
		base["header"] = header
	}
	var match []any
	for _, m := range r.filters.accepts(r.methods) {
		if set := requestMatchJSON(m, maps.Clone(base)); len(set) > 0 {
			match = append(match, set)
		}
	}
	rt := object{"handle": waysJSON(r.ways, opts), "terminal": true}
	if len(match) > 0 {
		rt["match"] = match
	}
	return rt
}

// requestMatchJSON adds m's matchers to the matcher set set.
func requestMatchJSON(m requestMatch, set object) object {
	if len(m.methods) > 0 {
		set["method"] = strings2any(m.methods)
	}
	if len(m.notMethods) > 0 {
		not, _ := set["not"].([]any)
		set["not"] = append(slices.Clone(not), object{"method": strings2any(m.notMethods)})
	}
	if m.protocol != "" {
		set["protocol"] = m.protocol
	}
	if len(m.headers) > 0 {
		set["header_regexp"] = regexpsJSON(m.headers)
	}
	return set
}

// waysJSON is the handlers of a route: those of its one flow, or a
// subroute trying each way in order.
func waysJSON(ways []*way, opts Options) []any {
	if len(ways) == 1 && ways[0].when == nil {
		return flowJSON(ways[0].flow, opts)
	}
	routes := make([]any, len(ways))
	for i, w := range ways {
		rt := object{"handle": flowJSON(w.flow, opts), "terminal": true}
		if w.when != nil {
			rt["match"] = matchSetsJSON(w.when)
		}
		routes[i] = rt
	}
	return []any{object{"handler": "subroute", "routes": routes}}
}

func flowJSON(f *flow, opts Options) []any {
	if f.refusal != nil {
		return refusalJSON(f.refusal)
	}
	var handle []any
	if f.fault != nil {
		handle = append(handle, faultJSON(f.fault, f.faultStatus))
	}
	switch {
	case f.echo:
		handle = append(handle, echoJSON(f))
	case f.ack != 0:
		// As Synapse's acknowledgement: no body, none of the flow's headers.
		answer := object{"handler": "static_response", "status_code": f.ack}
		if f.allow != nil {
			answer["headers"] = object{"Allow": []any{*f.allow}}
		}
		handle = append(handle, answer)
	case f.sendTo:
		handle = append(handle, sendToJSON(f, opts))
	default:
		if f.call.session != nil && f.call.session.kind != "" {
			// Sessions of type http and soap are learned from responses.
			handle = append(handle, object{"handler": "learn_sessions"})
		}
		handle = append(handle, proxyJSON(f, f.call))
	}
	return handle
}

// sendToJSON proxies to the request's host if it is one of the listed
// ones, and refuses it otherwise.
func sendToJSON(f *flow, opts Options) object {
	var routes []any
	for _, h := range opts.SendTo {
		cl := &call{upstreams: []upstream{{dial: h}}, path: f.prefix}
		routes = append(routes, object{
			"match":    []any{object{"header": object{"Host": strings2any(sendToHosts(h))}}},
			"handle":   []any{proxyJSON(f, cl)},
			"terminal": true,
		})
	}
	routes = append(routes, object{"handle": refusalJSON(&refusal{status: http.StatusForbidden, reason: sendToRefusal})})
	return object{"handler": "subroute", "routes": routes}
}

// refusalJSON answers a SOAP fault (in the request's version) with r's
// status: an error handler raises it, a soap_fault answers it.
func refusalJSON(r *refusal) []any {
	return []any{
		object{"handler": "soap_fault", "version": "auto", "reason": r.reason, "status_code": r.status, "on": []any{r.status}},
		object{"handler": "error", "status_code": r.status, "error": r.reason},
	}
}

// matchSetsJSON is a route's match: any of the sets.
func matchSetsJSON(sets []matchSet) []any {
	out := make([]any, len(sets))
	for i, m := range sets {
		o := object{}
		if len(m.headers) > 0 {
			o["header_regexp"] = regexpsJSON(m.headers)
		}
		if len(m.vars) > 0 {
			o["vars_regexp"] = regexpsJSON(m.vars)
		}
		if m.xpath != "" {
			o["soap_xpath"] = soapXPathJSON(m.xpath, m.namespaces)
		}
		if m.notXPath != "" {
			o["not"] = []any{object{"soap_xpath": soapXPathJSON(m.notXPath, m.namespaces)}}
		}
		out[i] = o
	}
	return out
}

// regexpsJSON is a header_regexp or vars_regexp matcher: key to pattern.
func regexpsJSON(patterns map[string]string) object {
	o := object{}
	for key, pattern := range patterns {
		o[key] = object{"pattern": pattern}
	}
	return o
}

func soapXPathJSON(expr string, ns map[string]string) object {
	o := object{"expression": expr}
	if len(ns) > 0 {
		nso := object{}
		for p, uri := range ns {
			nso[p] = uri
		}
		o["namespaces"] = nso
	}
	return o
}

func faultJSON(f *fault, status int) object {
	h := object{"handler": "soap_fault", "version": f.version}
	if status != 0 {
		h["status_code"] = status
	}
	for k, v := range map[string]string{"code": f.code, "reason": f.reason, "role": f.role, "node": f.node, "detail": f.detail} {
		if v != "" {
			h[k] = v
		}
	}
	return h
}

// echoJSON answers with the request, as <respond/> does before any call.
func echoJSON(f *flow) object {
	h := object{
		"handler":     "static_response",
		"status_code": cmp.Or(f.answerStatus, http.StatusOK),
		"headers":     object{},
	}
	if !f.noBody {
		h["body"] = "{http.request.body}"
		h["headers"].(object)["Content-Type"] = []any{"{http.request.header.Content-Type}"}
	}
	// The message that comes back carries the transport headers set on it.
	for _, ops := range []headerOps{f.reqHeaders, f.respHeaders} {
		for _, name := range ops.names {
			if v := ops.values[name]; v != nil {
				h["headers"].(object)[name] = []any{*v}
			}
		}
	}
	if len(h["headers"].(object)) == 0 {
		delete(h, "headers")
	}
	return h
}

func proxyJSON(f *flow, cl *call) object {
	ups := make([]any, len(cl.upstreams))
	for i, u := range cl.upstreams {
		ups[i] = object{"dial": u.dial}
	}
	rp := object{"handler": "reverse_proxy", "upstreams": ups}
	rewrite := object{}
	switch {
	case cl.exact:
		rewrite["uri"] = cmpOr(cl.path, "/") + "?" + cl.query // "?" and nothing: the query cleared
	case f.postfix != nil:
		rewrite["uri"] = postfixURI(cl.path, *f.postfix)
	case f.prefix == "" && cl.path != "":
		// From main, which no service path leads to, the message goes to
		// the endpoint's address as it is.
		rewrite["uri"] = postfixURI(cl.path, "")
	case cl.path != f.prefix:
		rewrite["path_regexp"] = []any{object{
			"find":    "^" + regexp.QuoteMeta(f.prefix),
			"replace": strings.ReplaceAll(strings.TrimSuffix(cl.path, "/"), "$", "$$"),
		}}
	}
	if cl.method != "" {
		rewrite["method"] = cl.method
	}
	if len(rewrite) > 0 {
		rp["rewrite"] = rewrite
	}
	if f.responseStatus != 0 {
		// A response handler with only a status changes the status of
		// the response, which is then proxied as usual.
		rp["handle_response"] = []any{object{"status_code": strconv.Itoa(f.responseStatus)}}
	}
	headers := object{}
	if ops := headerOpsJSON(f.reqHeaders); ops != nil {
		headers["request"] = ops
	}
	if ops := headerOpsJSON(f.respHeaders); ops != nil {
		headers["response"] = ops
	}
	if len(headers) > 0 {
		rp["headers"] = headers
	}
	lb := object{}
	if p := policyJSON(cl); p != nil {
		lb["selection_policy"] = p
	}
	if cl.retries > 0 {
		lb["retries"] = cl.retries
	}
	if len(lb) > 0 {
		rp["load_balancing"] = lb
	}
	if h := cl.health; h.failDuration > 0 {
		rp["health_checks"] = object{"passive": object{"fail_duration": h.failDuration.String(), "max_fails": h.maxFails}}
	}
	if tr := transportJSON(cl, f.preserveWSA); tr != nil {
		rp["transport"] = tr
	}
	return rp
}

// postfixURI is the URI the upstream gets with REST_URL_POSTFIX set: the
// endpoint's path and the postfix joined as Axis2FlexibleMEPClient joins
// them, with no query but the postfix's.
func postfixURI(path, postfix string) string {
	switch {
	case postfix == "":
	case !strings.HasSuffix(path, "/") && !strings.HasPrefix(postfix, "/") && !strings.HasPrefix(postfix, "?"):
		path += "/"
	case strings.HasSuffix(path, "/") && strings.HasPrefix(postfix, "/"):
		postfix = postfix[1:]
	case strings.HasSuffix(path, "/") && strings.HasPrefix(postfix, "?"):
		path = path[:len(path)-1]
	}
	uri := path + postfix
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	if !strings.Contains(uri, "?") {
		uri += "?" // a bare ? clears the request's query
	}
	return uri
}

// transportJSON is the reverse_proxy transport of cl, or nil for Caddy's
// default: the http transport with TLS and the endpoint's timeout, wrapped in
// ws_addressing for <enableAddressing/>.
func transportJSON(cl *call, preserveWSA bool) object {
	var tr object
	if cl.tls || cl.health.timeout > 0 {
		tr = object{"protocol": "http"}
		if cl.tls {
			tr["tls"] = object{}
		}
		if cl.health.timeout > 0 {
			tr["response_header_timeout"] = cl.health.timeout.String()
		}
	}
	a := cl.addressing
	if a == nil {
		return tr
	}
	wsa := object{"protocol": "ws_addressing"}
	if a.version != "" {
		wsa["version"] = a.version
	}
	if preserveWSA {
		wsa["preserve"] = true
	}
	if tr != nil {
		wsa["transport"] = tr
	}
	return wsa
}

func policyJSON(cl *call) object {
	var p object
	switch cl.policy {
	case "":
		return nil
	case "weighted_round_robin":
		weights := make([]any, len(cl.upstreams))
		for i, u := range cl.upstreams {
			weights[i] = u.weight
		}
		p = object{"policy": cl.policy, "weights": weights}
	default:
		p = object{"policy": cl.policy}
	}
	if cl.session == nil {
		return p
	}
	s := object{
		"policy":   "simple_client_session",
		"name":     cl.name,
		"timeout":  cl.session.timeout.String(),
		"expiry":   "fixed",
		"fallback": p,
	}
	if cl.session.kind != "" {
		s["session"] = cl.session.kind
	}
	if cl.placement != "" {
		s["placement"] = cl.placement
	}
	return s
}

func headerOpsJSON(h headerOps) object {
	set := object{}
	var del []any
	for _, name := range h.names {
		if v := h.values[name]; v != nil {
			set[name] = []any{*v}
		} else {
			del = append(del, name)
		}
	}
	ops := object{}
	if len(set) > 0 {
		ops["set"] = set
	}
	if del != nil {
		ops["delete"] = del
	}
	if len(ops) == 0 {
		return nil
	}
	return ops
}

func strings2any(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
