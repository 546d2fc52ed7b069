package synapse

import "time"

// The model between Synapse XML and Caddy JSON: what each service serves and
// how a request is handled, in terms Caddy can express.

// service is a proxy service or an API.
type service struct {
	name        string
	http, https bool
	routes      []*route
}

// route is what a request must match and what is done with it.
type route struct {
	paths      []string // Caddy path matcher (exact or with *)
	pathRegexp string   // instead of paths, for uri-templates with variables
	methods    []string // empty: any
	flow       *flow
}

// flow is a request's way through a proxy's target or an API resource.
type flow struct {
	prefix      string // the path the service is reached at; the endpoint's path replaces it
	reqHeaders  headerOps
	respHeaders headerOps
	call        *call // nil when the flow only responds
	echo        bool  // <respond/> without a call: the request comes back
	fault       *fault
	preserveWSA bool // PRESERVE_WS_ADDRESSING
}

// headerOps are header changes in the order the configuration gives them;
// the last one for a name wins.
type headerOps struct {
	names  []string
	values map[string]*string // nil value: removed
}

func (h *headerOps) set(name, value string) { h.put(name, &value) }
func (h *headerOps) remove(name string)     { h.put(name, nil) }

func (h *headerOps) put(name string, v *string) {
	if h.values == nil {
		h.values = map[string]*string{}
	}
	if _, ok := h.values[name]; !ok {
		h.names = append(h.names, name)
	}
	h.values[name] = v
}

// call is where the request goes: one reverse_proxy.
type call struct {
	name       string // names the session table
	upstreams  []upstream
	tls        bool
	path       string // the endpoint's path
	method     string // "": the request's
	exact      bool   // path and query replace the request's (an http endpoint with a method)
	query      string // with exact
	policy     string // round_robin, weighted_round_robin, least_conn, first; "" for one upstream
	session    *session
	placement  string // of the session policy: "" (the fallback's) or least_sessions
	addressing *addressing
	retries    int
	health     health
}

type upstream struct {
	dial   string
	weight int
}

type session struct {
	timeout time.Duration
	// kind is the policy's session type: "" (simple_client), "http" or
	// "soap"; the last two are learned from responses.
	kind string
}

type addressing struct {
	version string // "" (final, the default), final or submission
}

// health is an endpoint's timeout and suspension, as Caddy's transport
// timeout and passive health checks.
type health struct {
	timeout      time.Duration // 0: none
	failDuration time.Duration // 0: passive health off
	maxFails     int
}

// fault is a makefault mediator, as a soap_fault handler.
type fault struct {
	version, code, reason, role, node, detail string
}
