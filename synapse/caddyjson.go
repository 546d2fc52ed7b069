package synapse

import (
	"regexp"
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
			rt := routeJSON(r)
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

func routeJSON(r *route) object {
	match := object{}
	if r.pathRegexp != "" {
		match["path_regexp"] = object{"pattern": r.pathRegexp}
	} else {
		match["path"] = strings2any(r.paths)
	}
	if len(r.methods) > 0 {
		match["method"] = strings2any(r.methods)
	}
	var handle []any
	f := r.flow
	if f.fault != nil {
		handle = append(handle, faultJSON(f.fault))
	}
	if f.echo {
		handle = append(handle, echoJSON(f))
	} else {
		if f.call.session != nil && f.call.session.kind != "" {
			// Sessions of type http and soap are learned from responses.
			handle = append(handle, object{"handler": "learn_sessions"})
		}
		handle = append(handle, proxyJSON(f))
	}
	return object{"match": []any{match}, "handle": handle, "terminal": true}
}

func faultJSON(f *fault) object {
	h := object{"handler": "soap_fault", "version": f.version}
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
		"status_code": 200,
		"body":        "{http.request.body}",
		"headers":     object{"Content-Type": []any{"{http.request.header.Content-Type}"}},
	}
	// The message that comes back carries the transport headers set on it.
	for _, ops := range []headerOps{f.reqHeaders, f.respHeaders} {
		for _, name := range ops.names {
			if v := ops.values[name]; v != nil {
				h["headers"].(object)[name] = []any{*v}
			}
		}
	}
	return h
}

func proxyJSON(f *flow) object {
	cl := f.call
	ups := make([]any, len(cl.upstreams))
	for i, u := range cl.upstreams {
		ups[i] = object{"dial": u.dial}
	}
	rp := object{"handler": "reverse_proxy", "upstreams": ups}
	rewrite := object{}
	switch {
	case cl.exact:
		rewrite["uri"] = cmpOr(cl.path, "/") + "?" + cl.query // "?" and nothing: the query cleared
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
