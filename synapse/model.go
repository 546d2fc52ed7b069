package synapse

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// The model between Synapse XML and Caddy JSON: what each service serves and
// how a request is handled, in terms Caddy can express.

// service is a proxy service or an API.
type service struct {
	name        string
	api         bool
	context     string // an API's, with its version
	http, https bool
	routes      []*route
}

// route is what a request must match and what is done with it.
type route struct {
	paths      []string            // Caddy path matcher (exact or with *)
	pathRegexp string              // instead of paths, for uri-templates with variables
	methods    []string            // empty: any
	filters    filters             // a resource's, besides its methods
	not        []requestMatch      // none of these
	header     map[string][]string // Caddy header matcher
	ways       []*way              // tried in order; the first whose conditions hold is taken
}

// requestMatch is a condition on a request besides its path: one Caddy
// matcher set.
type requestMatch struct {
	methods    []string          // empty: any
	notMethods []string          // none of these methods
	protocol   string            // "http" or "https"; "": either
	headers    map[string]string // header name to an anchored regexp (header_regexp)
}

// way is one way through a flow: the conditions of the filter and switch
// branches that lead to it, and what is then done. Ways are tried in the
// order the branches are written, so a later way needs no negation of the
// earlier ones' conditions.
type way struct {
	when []matchSet // any of them; nil: every request
	flow *flow
}

// matchSet is a condition on the request that all of its parts must meet:
// one Caddy matcher set.
type matchSet struct {
	headers    map[string]string // header name to an anchored regexp (header_regexp)
	vars       map[string]string // placeholder ({http.request.uri}) to an anchored regexp (vars_regexp)
	xpath      string            // a boolean XPath over the envelope (soap_xpath)
	notXPath   string            // one that must not hold (not soap_xpath)
	namespaces map[string]string // of both XPaths
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

	// Set by axis2-scope properties.
	answerStatus   int     // HTTP_SC before any call: of the flow's own answer (respond)
	responseStatus int     // HTTP_SC after the call: of the upstream's response
	faultStatus    int     // HTTP_SC in the fault sequence: of the fault
	noBody         bool    // NO_ENTITY_BODY: the flow's own answer has no body
	postfix        *string // REST_URL_POSTFIX: what follows the endpoint's path instead of the request's
	messageType    string  // messageType: the requests must already be of it

	ack          int      // answered at once with this status, no body and none of the flow's headers (Synapse's acknowledgement)
	allow        *string  // with ack: the Allow header of an answer to OPTIONS
	sendTo       bool     // <send/> without an endpoint: to the request's host, if listed
	refusal      *refusal // answered with a fault at once
	errorHandler string   // the onError sequence of the sequence that calls, if any
	receive      string   // the sequence the response goes through, instead of the outSequence
}

// headerOps are header changes in the order the configuration gives them;
// the last one for a name wins.
type headerOps struct {
	names  []string
	values map[string]*string // nil value: removed
}

func (h *headerOps) set(name, value string) { h.put(name, &value) }
func (h *headerOps) remove(name string)     { h.put(name, nil) }

func (h headerOps) clone() headerOps {
	return headerOps{names: slices.Clone(h.names), values: maps.Clone(h.values)}
}

// has reports whether the flow sets or removes header name.
func (h *headerOps) has(name string) bool {
	for _, n := range h.names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

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

// refusal is a fault the adapted config answers at once, for requests it
// must not handle as Synapse would.
type refusal struct {
	status int
	reason string
}

// fault is a makefault mediator, as a soap_fault handler.
type fault struct {
	version, code, reason, role, node, detail string
}
