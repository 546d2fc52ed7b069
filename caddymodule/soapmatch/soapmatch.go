// Package soapmatch is the Caddy request matcher http.matchers.soap_xpath:
// content-based routing on an XPath expression over the SOAP envelope, as
// Synapse's filter and switch mediators route. The XPath logic is in
// internal/soapxpath; the bounded read of the body in internal/soap.
package soapmatch

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
	"github.com/soap-affinity/caddy-soap-affinity/internal/soapxpath"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(MatchSOAPXPath{})
}

// maxPeekLimit bounds peek_limit, as the policy's does.
const maxPeekLimit = 1 << 30

// MatchSOAPXPath matches requests whose SOAP envelope (or XML body) an XPath
// 1.0 expression selects, or gives a string value equal to Value.
//
// It reads the body only when its Content-Type is XML (text/xml,
// application/soap+xml, any +xml type), its Content-Encoding is none or
// identity, and it ends within PeekLimit bytes, and it puts back a body that
// yields exactly the bytes that came, with Content-Length untouched. A body
// that is not XML, compressed, MTOM, over the limit, malformed, declares a
// document type or nests deeper than 256 elements does not match; the
// request is never failed by its body.
type MatchSOAPXPath struct {
	// Expression is the XPath 1.0 expression. Required.
	Expression string `json:"expression"`
	// Value, if set, is the string value the expression must have (XPath's
	// string(): for a node-set, that of its first node). Without it, the
	// expression must be true as XPath's boolean() says (a node-set that is
	// not empty).
	Value *string `json:"value,omitempty"`
	// Namespaces binds prefixes used in Expression to namespace URIs. soap11
	// and soapenv (SOAP 1.1) and soap12 (SOAP 1.2) are predefined; a binding
	// here overrides them.
	Namespaces map[string]string `json:"namespaces,omitempty"`
	// PeekLimit is the most bytes of the body read, default 64 KiB (as the
	// simple_client_session policy's peek_limit).
	PeekLimit int `json:"peek_limit,omitempty"`

	query *soapxpath.Query
}

// CaddyModule returns the Caddy module information.
func (MatchSOAPXPath) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.matchers.soap_xpath",
		New: func() caddy.Module { return new(MatchSOAPXPath) },
	}
}

// Provision compiles the expression, once.
func (m *MatchSOAPXPath) Provision(caddy.Context) error {
	if m.PeekLimit == 0 {
		m.PeekLimit = sessionaffinity.DefaultPeekLimit
	}
	if m.Expression == "" {
		return errors.New("soap_xpath: an expression is required")
	}
	q, err := soapxpath.Compile(m.Expression, m.Namespaces, m.Value)
	if err != nil {
		return fmt.Errorf("soap_xpath: %w", err)
	}
	m.query = q
	return nil
}

// Validate checks the peek limit.
func (m *MatchSOAPXPath) Validate() error {
	if m.PeekLimit < 1 || m.PeekLimit > maxPeekLimit {
		return fmt.Errorf("soap_xpath: peek_limit %d: want a size from 1B to 1GiB", m.PeekLimit)
	}
	return nil
}

// Match is MatchWithError without the error, for callers of the older
// caddyhttp.RequestMatcher interface.
func (m *MatchSOAPXPath) Match(r *http.Request) bool {
	ok, _ := m.MatchWithError(r)
	return ok
}

// MatchWithError implements caddyhttp.RequestMatcherWithError. It never
// returns an error: a body that cannot be read or evaluated does not match,
// and the handlers after it meet the read error as they would have.
func (m *MatchSOAPXPath) MatchWithError(r *http.Request) (bool, error) {
	if r.Body == nil || r.Body == http.NoBody || !readable(r.Header) {
		return false, nil
	}
	doc, replay, err := soap.PeekWhole(r.Body, r.ContentLength, m.PeekLimit)
	r.Body = replay
	if err != nil {
		return false, nil
	}
	return m.query.Match(doc), nil
}

// readable reports whether the body is an XML document as it stands: an XML
// Content-Type (MTOM's multipart/related is not), not encoded.
func readable(h http.Header) bool {
	if !soap.IsXMLContentType(h.Get("Content-Type")) {
		return false
	}
	encoding := strings.TrimSpace(h.Get("Content-Encoding"))
	return encoding == "" || strings.EqualFold(encoding, "identity")
}

// Interface guards
var (
	_ caddy.Provisioner                 = (*MatchSOAPXPath)(nil)
	_ caddy.Validator                   = (*MatchSOAPXPath)(nil)
	_ caddyhttp.RequestMatcherWithError = (*MatchSOAPXPath)(nil)
	_ caddyfile.Unmarshaler             = (*MatchSOAPXPath)(nil)
)
