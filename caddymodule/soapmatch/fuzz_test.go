package soapmatch

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"

	"github.com/caddyserver/caddy/v2"
)

// FuzzSOAPXPathMatch: for any body and expression, the matcher neither
// panics nor errors, and the body after it yields the bytes sent, whether
// its length is known or not.
func FuzzSOAPXPathMatch(f *testing.F) {
	f.Add([]byte(getQuote(ns11, "IBM")), "//m0:getQuote/m0:request/m0:symbol", "IBM", true, false)
	f.Add([]byte(getQuote(ns12, "MSFT")), "/soap12:Envelope/soap12:Body/*", "", false, true)
	f.Add([]byte(`<a><b>1</b><b>2</b></a>`), "sum(//b) > 2", "", false, false)
	f.Add([]byte(`<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`), "string(/a)", "y", true, false)
	f.Add([]byte(`<a xmlns:m0="http://services.samples"><m0:x/></a>`), "count(//m0:*)", "1", true, true)
	f.Add([]byte("<a>\xff</a>"), "//a[contains(., 'x')]", "", false, false)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: f.Context()})
	f.Cleanup(cancel)
	f.Fuzz(func(t *testing.T, body []byte, expression, value string, withValue, unknownLength bool) {
		m := &MatchSOAPXPath{Expression: expression, Namespaces: map[string]string{"m0": "http://services.samples"}, PeekLimit: 4 << 10}
		if withValue {
			m.Value = &value
		}
		if m.Provision(ctx) != nil {
			return // an invalid expression is refused at load, not at match
		}
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "text/xml")
		if unknownLength {
			r.ContentLength = -1
			r.Body = io.NopCloser(iotest.HalfReader(bytes.NewReader(body)))
		}
		length := r.ContentLength
		if _, err := m.MatchWithError(r); err != nil {
			t.Fatalf("MatchWithError error %v", err)
		}
		if r.ContentLength != length {
			t.Fatalf("Content-Length %d, was %d", r.ContentLength, length)
		}
		got, err := io.ReadAll(r.Body)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("body after the match: %d bytes (%v), sent %d", len(got), err, len(body))
		}
	})
}
