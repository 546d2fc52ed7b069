package policy

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/google/uuid"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// AddressingConfig turns on WS-Addressing for the proxied SOAP requests, as
// Synapse's <enableAddressing/> on an endpoint: wsa:To (the upstream chosen for
// the attempt), wsa:MessageID and wsa:Action are written into the SOAP Header.
//
// It lives in the selection policy because that is where, for each attempt,
// both the chosen upstream and the peeked SOAP Header are at hand.
type AddressingConfig struct {
	// "final" (http://www.w3.org/2005/08/addressing, the default) or
	// "submission" (http://schemas.xmlsoap.org/ws/2004/08/addressing, which
	// also writes the anonymous wsa:ReplyTo).
	Version string `json:"version,omitempty"`

	// Preserve keeps the To, MessageID, Action and ReplyTo blocks the client
	// sent, writing only those it did not; by default they are replaced.
	Preserve bool `json:"preserve,omitempty"`
}

// provisionAddressing prepares the WS-Addressing rewrite, if configured. The
// policy's reverse_proxy (p.proxy) tells the scheme of wsa:To by its
// transport, and the SOAPAction the upstream gets by its header_up operations.
func (p *SimpleClientSession) provisionAddressing() error {
	if p.Addressing == nil {
		return nil
	}
	var err error
	p.addressing, err = soap.NewAddressing(p.Addressing.Version, p.Addressing.Preserve)
	if err != nil {
		return err
	}
	p.addressingVar = "soap_affinity." + p.Name + ".addressing"
	return nil
}

// addressedRequest is the WS-Addressing state of one request across the
// attempts (retries) of it.
type addressedRequest struct {
	msg           *soap.Message
	body          io.ReadCloser // the body this policy last put on the request
	contentLength int64         // the client's
	messageID     string        // one per request: a retry resends the same message
}

// peekForAddressing reads the SOAP Header of the request once, remembering it
// for the retries, and puts back a body with the same bytes. It returns nil
// when addressing is off or the request has no SOAP/XML body. The peek also
// finds the session id, so sessionID does not read the body again.
func (p *SimpleClientSession) peekForAddressing(r *http.Request) *addressedRequest {
	if p.addressing == nil || !hasXMLBody(r) {
		return nil
	}
	st, _ := caddyhttp.GetVar(r.Context(), p.addressingVar).(*addressedRequest)
	if st != nil && r.Body == st.body {
		return st // a retry, with the body this policy put on
	}
	// The first attempt, or a retry whose body reverse_proxy rewound from its
	// request buffer: peek (again) at what is there now.
	msg, id, outcome := p.ids.PeekMessage(r.Body)
	if st == nil {
		st = &addressedRequest{contentLength: r.ContentLength, messageID: "urn:uuid:" + uuid.NewString()}
		caddyhttp.SetVar(r.Context(), p.addressingVar, st)
		switch {
		case p.ids.ReadsBody() && outcome == sessionaffinity.PeekMalformed:
			// A Header this peek cannot read (an XML declaration other
			// than UTF-8, say) is left to sessionID's own, which reads more.
		case p.ids.ReadsBody():
			caddyhttp.SetVar(r.Context(), p.idVar, id)
			fallthrough
		default:
			p.notePeek(id, outcome)
		}
	}
	st.msg, st.body = msg, msg.Body()
	r.Body = st.body
	return st
}

// address writes the WS-Addressing headers for the upstream chosen for this
// attempt into the request body, from the original bytes, and corrects the
// Content-Length (a chunked request stays chunked).
func (p *SimpleClientSession) address(r *http.Request, st *addressedRequest, chosen *reverseproxy.Upstream) {
	if !st.msg.Addressable() {
		return
	}
	h := soap.AddressingHeaders{To: p.toURL(r, chosen), MessageID: st.messageID, Action: p.soapAction(r)}
	body, growth := st.msg.Addressed(p.addressing, h)
	r.Body, st.body = body, body
	if st.contentLength > 0 {
		r.ContentLength = st.contentLength + int64(growth)
		if _, ok := r.Header["Content-Length"]; ok {
			r.Header.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
		}
	}
	if ce := p.logger.Check(zap.DebugLevel, "wrote WS-Addressing headers"); ce != nil {
		ce.Write(zap.String("to", h.To), zap.String("message_id", h.MessageID), zap.String("action", h.Action))
	}
}

// toURL is the URL of the upstream for this attempt: http, or https when the
// reverse_proxy transport uses TLS, then the dial address and the request's
// path and query as they are sent upstream.
func (p *SimpleClientSession) toURL(r *http.Request, u *reverseproxy.Upstream) string {
	scheme := "http"
	if p.proxy != nil {
		if t, ok := p.proxy.Transport.(interface{ TLSEnabled() bool }); ok && t.TLSEnabled() {
			scheme = "https"
		}
	}
	host := u.Dial
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		host = repl.ReplaceAll(host, "")
	}
	if addr, err := caddy.ParseNetworkAddress(host); err == nil {
		if addr.IsUnixNetwork() {
			host = "localhost"
		} else {
			host = addr.JoinHostPort(0)
		}
	}
	return scheme + "://" + host + r.URL.RequestURI()
}

// soapAction is the request's SOAP action as the upstream will get it (see
// soap.Action). reverse_proxy applies header_up after the selection, so its
// operations are applied here to a copy of the headers.
func (p *SimpleClientSession) soapAction(r *http.Request) string {
	header := r.Header
	if p.proxy != nil && p.proxy.Headers != nil && p.proxy.Headers.Request != nil {
		upstreamReq := *r
		upstreamReq.Header = r.Header.Clone()
		p.proxy.Headers.Request.ApplyToRequest(&upstreamReq)
		header = upstreamReq.Header
	}
	return soap.Action(header.Get("SOAPAction"), header.Get("Content-Type"))
}

// hasXMLBody reports whether the request has a body that may be a SOAP
// envelope as it stands, which addressing can rewrite: XML, not encoded.
func hasXMLBody(r *http.Request) bool {
	return hasBody(r) && soap.IsXMLContentType(r.Header.Get("Content-Type")) &&
		(r.Header.Get("Content-Encoding") == "" || strings.EqualFold(r.Header.Get("Content-Encoding"), "identity"))
}

// hasEnvelope reports whether the request has a body that may carry a SOAP
// envelope, to find a session id in: XML or MTOM, maybe compressed.
func hasEnvelope(r *http.Request) bool {
	return hasBody(r) && soap.CarriesEnvelope(r.Header.Get("Content-Type"))
}

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
}

// unmarshalAddressing parses
//
//	addressing [final|submission] {
//		preserve
//	}
func (p *SimpleClientSession) unmarshalAddressing(d *caddyfile.Dispenser) error {
	if p.Addressing != nil {
		return d.Err("addressing already specified")
	}
	p.Addressing = &AddressingConfig{}
	if d.NextArg() {
		p.Addressing.Version = d.Val()
		if _, err := soap.NewAddressing(d.Val(), false); err != nil {
			return d.Errf("invalid addressing: %v", err)
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "preserve":
			p.Addressing.Preserve = true
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unrecognized addressing option '%s'", d.Val())
		}
	}
	return nil
}
