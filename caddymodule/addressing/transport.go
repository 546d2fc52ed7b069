// Package addressing is the ws_addressing reverse_proxy transport: the
// equivalent of Synapse's <enableAddressing/> on an endpoint. It wraps another
// transport (Caddy's http transport by default) and writes wsa:To,
// wsa:MessageID and wsa:Action (and, for the submission version,
// wsa:ReplyTo) into the SOAP Header of each proxied request, at the point
// where the upstream is known: in RoundTrip, for every attempt. It therefore
// works with any selection policy.
package addressing

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(Transport{})
}

// peekLimit bounds how much of a body is read to find the end of its SOAP
// Header: the selection policy's default peek limit. A Header that does not
// end within it is left alone (the body passes unchanged).
const peekLimit = sessionaffinity.DefaultPeekLimit

// Transport writes WS-Addressing headers into proxied SOAP requests and hands
// them to the transport it wraps.
//
// Only bodies whose Content-Type is XML (text/xml, application/soap+xml, any
// +xml) and that carry no Content-Encoding are rewritten; MTOM, gzip or
// deflate bodies, non-SOAP XML and envelopes whose Header cannot be read
// within 64 KiB pass unchanged.
type Transport struct {
	// "final" (http://www.w3.org/2005/08/addressing, the default) or
	// "submission" (http://schemas.xmlsoap.org/ws/2004/08/addressing, which
	// also writes the anonymous wsa:ReplyTo).
	Version string `json:"version,omitempty"`

	// Preserve keeps the To, MessageID, Action and ReplyTo blocks the client
	// sent, writing only those it did not; by default they are replaced.
	Preserve bool `json:"preserve,omitempty"`

	// The transport that sends the requests; default {"protocol": "http"}.
	TransportRaw json.RawMessage `json:"transport,omitempty" caddy:"namespace=http.reverse_proxy.transport inline_key=protocol"`

	// next is the wrapped transport: the loaded module after Provision; while
	// adapting a Caddyfile, the unmarshaled one (named nextName), so that
	// reverse_proxy's Caddyfile parsing can enable TLS or h2c on it.
	next     http.RoundTripper
	nextName string

	addressing *soap.Addressing
	stateVar   string // the request variable holding a request's requestState
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Transport) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.transport.ws_addressing",
		New: func() caddy.Module { return new(Transport) },
	}
}

// instances numbers the provisioned transports, to name their request
// variables apart: two reverse_proxy handlers (or a config and its reload)
// never share one request's state.
var instances atomic.Uint64

// Provision validates the version and loads the wrapped transport. Caddy
// provisions, validates and cleans up the wrapped transport itself, as a
// module loaded in this one's context.
func (t *Transport) Provision(ctx caddy.Context) error {
	t.logger = ctx.Logger()
	a, err := soap.NewAddressing(t.Version, t.Preserve)
	if err != nil {
		return err
	}
	t.addressing = a
	if t.TransportRaw == nil {
		t.TransportRaw = json.RawMessage(`{"protocol":"http"}`)
	}
	mod, err := ctx.LoadModule(t, "TransportRaw")
	if err != nil {
		return fmt.Errorf("loading wrapped transport: %v", err)
	}
	rt, ok := mod.(http.RoundTripper)
	if !ok {
		return fmt.Errorf("wrapped transport %T is not an http.RoundTripper", mod)
	}
	if _, self := rt.(*Transport); self {
		return errors.New("ws_addressing cannot wrap another ws_addressing transport")
	}
	t.next, t.nextName = rt, ""
	t.stateVar = "soap_affinity.ws_addressing." + strconv.FormatUint(instances.Add(1), 10)
	return nil
}

// requestState is the WS-Addressing state of one client request across the
// attempts (retries) reverse_proxy makes of it.
type requestState struct {
	body      io.ReadCloser // the body reverse_proxy gave the attempt that peeked it
	msg       *soap.Message // what that peek read; msg.Body() yields the original bytes
	messageID string        // one per client request: a retry resends the same message
}

// RoundTrip writes the WS-Addressing headers for the upstream this attempt
// goes to into a copy of req and sends it with the wrapped transport. Each
// attempt is addressed afresh from the client's bytes, so a retry to another
// upstream names that upstream in wsa:To and keeps the MessageID.
//
// req itself is not changed: reverse_proxy sends the same request again on a
// retry. Its body is read as far as the end of the SOAP Header; what was read
// is kept in the request's variables and replayed before the rest.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !hasXMLBody(req) {
		return t.next.RoundTrip(req)
	}
	st, _ := caddyhttp.GetVar(req.Context(), t.stateVar).(*requestState)
	if st == nil {
		st = &requestState{messageID: "urn:uuid:" + uuid.NewString()}
		caddyhttp.SetVar(req.Context(), t.stateVar, st)
	}
	if st.msg == nil || !sameBody(st.body, req.Body) {
		// The first attempt, or a retry whose body reverse_proxy rewound
		// from its request buffer (a new reader each attempt): peek at what
		// is there now. Otherwise the body is the one peeked before, still
		// positioned after the prefix that st.msg holds.
		st.msg, _, _ = soap.ReadMessage(req.Body, peekLimit, xml.Name{})
		st.body = req.Body
	}

	out := req.WithContext(req.Context()) // a shallow copy: req stays as reverse_proxy made it
	out.GetBody = nil                     // it would yield the client's bytes, not these
	if !st.msg.Addressable() {
		out.Body = st.msg.Body()
		return t.next.RoundTrip(out)
	}
	h := soap.AddressingHeaders{
		To:        t.toURL(req),
		MessageID: st.messageID,
		// header_up has been applied to req.Header by now (reverse_proxy
		// applies it before calling the transport), so this is the action
		// the upstream gets.
		Action: soap.Action(req.Header.Get("SOAPAction"), req.Header.Get("Content-Type")),
	}
	body, growth := st.msg.Addressed(t.addressing, h)
	out.Body = body
	if req.ContentLength > 0 { // a chunked request (-1) stays chunked
		out.ContentLength = req.ContentLength + int64(growth)
		if _, ok := req.Header["Content-Length"]; ok {
			out.Header = req.Header.Clone()
			out.Header.Set("Content-Length", strconv.FormatInt(out.ContentLength, 10))
		}
	}
	if ce := t.logger.Check(zap.DebugLevel, "wrote WS-Addressing headers"); ce != nil {
		ce.Write(zap.String("to", h.To), zap.String("message_id", h.MessageID), zap.String("action", h.Action))
	}
	return t.next.RoundTrip(out)
}

// toURL is the URL this attempt is sent to: its scheme, the upstream's host
// as reverse_proxy pointed the request to it, then the path and query.
func (t *Transport) toURL(req *http.Request) string {
	return t.scheme(req) + "://" + t.host(req) + req.URL.RequestURI()
}

// scheme is the scheme the wrapped transport sends req with. Caddy's http
// transport chooses it in RoundTrip (https when TLS is on, except for the
// ports in except_ports); it offers SetScheme for transports that wrap it,
// which is asked here on a copy of the URL. Another transport's choice is
// inferred from TLSEnabled.
func (t *Transport) scheme(req *http.Request) string {
	if req.URL.Scheme != "" { // set by the wrapped transport on an earlier attempt; kept for this one
		return req.URL.Scheme
	}
	if s, ok := t.next.(interface{ SetScheme(*http.Request) }); ok {
		u := *req.URL
		s.SetScheme(&http.Request{URL: &u})
		if u.Scheme != "" {
			return u.Scheme
		}
	}
	if t.TLSEnabled() {
		return "https"
	}
	return "http"
}

// host is the host and port the request is sent to: req.URL.Host, which
// reverse_proxy set for the chosen upstream (without a port that the scheme
// implies), "localhost" for a Unix socket, and without the client address
// that reverse_proxy prefixes when the transport speaks the PROXY protocol.
func (t *Transport) host(req *http.Request) string {
	if di, ok := reverseproxy.GetDialInfo(req.Context()); ok && caddy.IsUnixNetwork(di.Network) {
		return "localhost"
	}
	host := req.URL.Host
	if t.ProxyProtocolEnabled() {
		if h, err := url.QueryUnescape(host); err == nil {
			if i := strings.LastIndex(h, "->"); i >= 0 {
				host = h[i+len("->"):]
			}
		}
	}
	return host
}

// sameBody reports whether a and b are the same body, without the panic
// that == raises on two values of one uncomparable type.
func sameBody(a, b io.ReadCloser) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.IsValid() && vb.IsValid() && va.Type() == vb.Type() && va.Comparable() && va.Equal(vb)
}

// hasXMLBody reports whether the request has a body that may be a SOAP
// envelope as it stands, which addressing can rewrite: XML, not encoded.
// MTOM (multipart/related) and gzip or deflate bodies are left alone.
func hasXMLBody(r *http.Request) bool {
	ce := r.Header.Get("Content-Encoding")
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 &&
		soap.IsXMLContentType(r.Header.Get("Content-Type")) &&
		(ce == "" || strings.EqualFold(ce, "identity"))
}
