package soapmatch

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/caddyserver/caddy/v2"
)

const (
	ns11 = "http://schemas.xmlsoap.org/soap/envelope/"
	ns12 = "http://www.w3.org/2003/05/soap-envelope"
)

// getQuote is Synapse sample 1's request, in a SOAP 1.1 or 1.2 envelope.
func getQuote(envNS, symbol string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="` + envNS + `">` +
		`<soapenv:Header/><soapenv:Body><m0:getQuote xmlns:m0="http://services.samples"><m0:request>` +
		`<m0:symbol>` + symbol + `</m0:symbol></m0:request></m0:getQuote></soapenv:Body></soapenv:Envelope>`
}

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = io.WriteString(w, s)
	_ = w.Close()
	return b.String()
}

func provisioned(t testing.TB, m *MatchSOAPXPath) *MatchSOAPXPath {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	t.Cleanup(cancel)
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	return m
}

func ibmMatcher(t testing.TB) *MatchSOAPXPath {
	v := "IBM"
	return provisioned(t, &MatchSOAPXPath{
		Expression: "//m0:getQuote/m0:request/m0:symbol",
		Value:      &v,
		Namespaces: map[string]string{"m0": "http://services.samples"},
	})
}

func TestMatch(t *testing.T) {
	ibm := getQuote(ns11, "IBM")
	big := strings.Replace(ibm, "<soapenv:Header/>", "<soapenv:Header><p>"+strings.Repeat("x", 64<<10)+"</p></soapenv:Header>", 1)
	mtom := "--b\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n\r\n" + ibm + "\r\n--b--\r\n"
	cases := []struct {
		name, body, contentType, encoding string
		unknownLength                     bool
		m                                 *MatchSOAPXPath
		want                              bool
	}{
		{name: "soap11_value", body: ibm, m: ibmMatcher(t), want: true},
		{name: "soap12_value", body: getQuote(ns12, "IBM"), contentType: "application/soap+xml; charset=UTF-8", m: ibmMatcher(t), want: true},
		{name: "other_value", body: getQuote(ns11, "MSFT"), m: ibmMatcher(t)},
		{name: "unknown_length", body: ibm, unknownLength: true, m: ibmMatcher(t), want: true},
		{name: "no_value_selects", body: getQuote(ns11, "MSFT"), m: provisioned(t, &MatchSOAPXPath{
			Expression: "//m0:symbol", Namespaces: map[string]string{"m0": "http://services.samples"}}), want: true},
		{name: "no_value_selects_nothing", body: ibm, m: provisioned(t, &MatchSOAPXPath{
			Expression: "//m0:price", Namespaces: map[string]string{"m0": "http://services.samples"}})},
		{name: "other_namespace", body: strings.ReplaceAll(ibm, "http://services.samples", "urn:other"), m: ibmMatcher(t)},
		{name: "predefined_soap11", body: ibm, m: provisioned(t, &MatchSOAPXPath{Expression: "/soapenv:Envelope/soapenv:Body"}), want: true},
		{name: "predefined_soap12", body: getQuote(ns12, "IBM"), contentType: "application/soap+xml", m: provisioned(t, &MatchSOAPXPath{Expression: "/soap12:Envelope/soap12:Body"}), want: true},
		{name: "soap12_prefix_on_soap11", body: ibm, m: provisioned(t, &MatchSOAPXPath{Expression: "/soap12:Envelope"})},
		{name: "over_limit", body: big, m: ibmMatcher(t)},
		{name: "over_limit_unknown_length", body: big, unknownLength: true, m: ibmMatcher(t)},
		{name: "within_raised_limit", body: big, m: provisioned(t, &MatchSOAPXPath{Expression: "//symbol[.='IBM'] | //*[local-name()='symbol'][.='IBM']", PeekLimit: 1 << 20}), want: true},
		{name: "not_xml_content_type", body: ibm, contentType: "application/json", m: ibmMatcher(t)},
		{name: "no_content_type", body: ibm, contentType: "-", m: ibmMatcher(t)},
		{name: "not_xml_body", body: `{"symbol":"IBM"}`, m: ibmMatcher(t)},
		{name: "malformed", body: strings.TrimSuffix(ibm, "</soapenv:Envelope>"), m: ibmMatcher(t)},
		{name: "doctype", body: `<!DOCTYPE e [<!ENTITY s "IBM">]>` + strings.Replace(getQuote(ns11, "&s;"), `<?xml version="1.0" encoding="UTF-8"?>`, "", 1), m: ibmMatcher(t)},
		// gzip is not decoded: the matcher reads bodies as they stand.
		{name: "gzip_not_decoded", body: gzipped(ibm), encoding: "gzip", m: ibmMatcher(t)},
		{name: "mtom_left_alone", body: mtom, contentType: `multipart/related; boundary=b; type="application/xop+xml"; start-info="text/xml"`, m: ibmMatcher(t)},
		{name: "empty", body: "", m: ibmMatcher(t)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/services/StockQuote", strings.NewReader(tc.body))
			switch tc.contentType {
			case "":
				r.Header.Set("Content-Type", "text/xml; charset=UTF-8")
			case "-":
			default:
				r.Header.Set("Content-Type", tc.contentType)
			}
			if tc.encoding != "" {
				r.Header.Set("Content-Encoding", tc.encoding)
			}
			if tc.unknownLength {
				r.ContentLength = -1
				r.Body = io.NopCloser(iotest.OneByteReader(strings.NewReader(tc.body)))
			}
			length := r.ContentLength
			got, err := tc.m.MatchWithError(r)
			if err != nil {
				t.Fatalf("MatchWithError error %v", err)
			}
			if got != tc.want {
				t.Errorf("matched %v, want %v", got, tc.want)
			}
			assertReplayed(t, r, tc.body, length)
		})
	}
}

// assertReplayed checks that the request's body yields exactly body and that
// its Content-Length is as it was.
func assertReplayed(t testing.TB, r *http.Request, body string, length int64) {
	t.Helper()
	if r.ContentLength != length {
		t.Errorf("Content-Length %d, was %d", r.ContentLength, length)
	}
	got, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading the body after the match: %v", err)
	}
	if sha256.Sum256(got) != sha256.Sum256([]byte(body)) {
		t.Errorf("body after the match differs: %d bytes, sent %d", len(got), len(body))
	}
}

// A body that fails to read does not match, and the error stays in the
// body for the handler that reads it next.
func TestMatchReadError(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Content-Type", "text/xml")
	r.ContentLength = -1
	r.Body = io.NopCloser(io.MultiReader(strings.NewReader("<soapenv:Envelope"), iotest.ErrReader(io.ErrUnexpectedEOF)))
	if got, err := ibmMatcher(t).MatchWithError(r); got || err != nil {
		t.Fatalf("MatchWithError = (%v, %v), want (false, nil)", got, err)
	}
	if _, err := io.ReadAll(r.Body); err == nil {
		t.Error("the read error was lost")
	}
}

func TestProvisionErrors(t *testing.T) {
	cases := []struct {
		m    MatchSOAPXPath
		want string
	}{
		{MatchSOAPXPath{}, "expression is required"},
		{MatchSOAPXPath{Expression: "//m0:symbol["}, `"//m0:symbol["`},
		{MatchSOAPXPath{Expression: "//x", Namespaces: map[string]string{"a b": "urn:x"}}, `"a b"`},
	}
	for _, tc := range cases {
		ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
		err := tc.m.Provision(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Provision(%+v) = %v, want an error with %s", tc.m, err, tc.want)
		}
	}
	m := MatchSOAPXPath{Expression: "//x", PeekLimit: -1}
	if err := m.Validate(); err == nil {
		t.Error("Validate accepted peek_limit -1")
	}
}

func BenchmarkMatch(b *testing.B) {
	pad := func(n int) string { return strings.Repeat("0123456789abcdef", n/16) }
	withBody := func(n int) string {
		return strings.Replace(getQuote(ns11, "IBM"), "</m0:request>", "</m0:request><d>"+pad(n)+"</d>", 1)
	}
	// The costliest shape per byte: a node for every four bytes, each a
	// few hundred bytes in the tree.
	withElements := func(n int) string {
		return strings.Replace(getQuote(ns11, "IBM"), "</m0:request>", "</m0:request><d>"+strings.Repeat("<e/>", n/4)+"</d>", 1)
	}
	cases := []struct {
		name string
		body string
	}{
		{"1KB", withBody(1<<10 - len(getQuote(ns11, "IBM")) - 10)},
		{"1MB", withBody(1 << 20)},
		{"1MB_empty_elements", withElements(1 << 20)},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			v := "IBM"
			m := provisioned(b, &MatchSOAPXPath{
				Expression: "//m0:getQuote/m0:request/m0:symbol", Value: &v,
				Namespaces: map[string]string{"m0": "http://services.samples"},
				PeekLimit:  2 << 20,
			})
			in := []byte(bc.body)
			rd := bytes.NewReader(in)
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("Content-Type", "text/xml; charset=UTF-8")
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(in)
				r.Body, r.ContentLength = io.NopCloser(rd), int64(len(in))
				if ok, _ := m.MatchWithError(r); !ok {
					b.Fatalf("no match on %d bytes", len(in))
				}
			}
		})
	}
}
