package caddymodule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/policy"
)

const (
	wsaFinalDecl      = `xmlns:wsa="` + soap.WSAFinalNamespace + `"`
	wsaSubmissionDecl = `xmlns:wsa="` + soap.WSASubmissionNamespace + `"`
	servicePath       = "/services/LoadBalanceProxy"
)

var messageIDPattern = regexp.MustCompile(`<wsa:MessageID>(urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})</wsa:MessageID>`)

// addressingConfig proxies to the backends with addressing on (policy options
// opts) and the given reverse_proxy options.
func addressingConfig(bs []*backend, opts, extra string) string {
	return proxyConfig(bs, `{
			addressing `+opts+`
		}`, extra)
}

// lastReceived returns the last request the backend that answered rep got.
func lastReceived(t *testing.T, bs []*backend, rep reply) received {
	t.Helper()
	if rep.status != http.StatusOK {
		t.Fatalf("status %d, body %q", rep.status, rep.body)
	}
	for _, b := range bs {
		if b.name == rep.backend {
			recs := b.Received()
			return recs[len(recs)-1]
		}
	}
	t.Fatalf("no backend named %q", rep.backend)
	return received{}
}

// wsaBlocks renders the blocks the policy writes, for an exact comparison.
func wsaBlocks(to, messageID, action string) string {
	s := "<wsa:To>" + to + "</wsa:To><wsa:MessageID>" + messageID + "</wsa:MessageID>"
	if action != "" {
		s += "<wsa:Action>" + action + "</wsa:Action>"
	}
	return s
}

// addressedBody checks what a backend received against the client's body
// with the WS-Addressing blocks for to and action inserted after the Header
// start tag: everything else byte for byte, the Content-Length right (or
// none, if the request was sent chunked). It returns the MessageID.
func addressedBody(t *testing.T, rec received, sent []byte, headerTag, decl, to, action, extra string) string {
	t.Helper()
	m := messageIDPattern.FindSubmatch(rec.Head)
	if m == nil {
		t.Fatalf("no wsa:MessageID with a random UUID in %s", rec.Head)
	}
	id := string(m[1])
	open := strings.TrimSuffix(headerTag, ">")
	want := strings.Replace(string(sent), headerTag, open+" "+decl+">"+wsaBlocks(to, id, action)+extra, 1)
	if sum := sha256.Sum256([]byte(want)); rec.BodySHA != hex.EncodeToString(sum[:]) {
		t.Fatalf("backend got (%d bytes)\n%s\nwant (%d bytes)\n%s", rec.BodyLen, rec.Head, len(want), want[:min(len(want), 4<<10)])
	}
	if rec.ContentLength != int64(len(want)) && (rec.ContentLength != -1 || len(rec.TransferEncoding) == 0) {
		t.Errorf("backend got Content-Length %d, want %d", rec.ContentLength, len(want))
	}
	return id
}

func TestAddressingWritesHeadersSOAP11And12(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, addressingConfig(bs, "", ""))

	t.Run("SOAP 1.1, action from SOAPAction", func(t *testing.T) {
		req := soapRequest("1.1", "a11")
		req.path = servicePath + "?wsdl=no"
		req.header["SOAPAction"] = `"urn:placeOrder"`
		rep := send(t, req)
		rec := lastReceived(t, bs, rep)
		to := "http://" + backendNamed(t, bs, rep.backend).addr + servicePath + "?wsdl=no"
		addressedBody(t, rec, req.body, "<soapenv:Header>", wsaFinalDecl, to, "urn:placeOrder", "")
	})
	t.Run("SOAP 1.2, action from Content-Type", func(t *testing.T) {
		req := soapRequest("1.2", "a12")
		req.path = servicePath
		req.header["Content-Type"] = `application/soap+xml; charset=UTF-8; action="urn:getQuote"`
		rep := send(t, req)
		rec := lastReceived(t, bs, rep)
		to := "http://" + backendNamed(t, bs, rep.backend).addr + servicePath
		addressedBody(t, rec, req.body, "<soapenv:Header>", wsaFinalDecl, to, "urn:getQuote", "")
	})
	t.Run("session named by HTTP header, no action", func(t *testing.T) {
		req := soapRequest("1.1", "ignored")
		req.header["simpleClientSession"] = "h1"
		rep := send(t, req)
		rec := lastReceived(t, bs, rep)
		addressedBody(t, rec, req.body, "<soapenv:Header>", wsaFinalDecl, "http://"+backendNamed(t, bs, rep.backend).addr+"/", "", "")
		if got := servedBy(t, req, 3); !allSame(append(got, rep.backend)) {
			t.Errorf("session h1 was served by %v after %s", got, rep.backend)
		}
	})
}

func TestAddressingSubmissionWritesAnonymousReplyTo(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, addressingConfig(bs, "submission", ""))
	req := soapRequest("1.1", "sub")
	req.header["SOAPAction"] = "urn:getQuote"
	rec := lastReceived(t, bs, send(t, req))
	addressedBody(t, rec, req.body, "<soapenv:Header>", wsaSubmissionDecl, "http://"+bs[0].addr+"/", "urn:getQuote",
		"<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>")
}

// The action header_up sets (as the demo does for the sample's
// <header name="Action"/>) is the one written, though reverse_proxy applies
// header_up only after the policy chose.
func TestAddressingActionFromHeaderUp(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, addressingConfig(bs, "", `header_up SOAPAction "urn:placeOrder"`))
	req := soapRequest("1.1", "hu")
	req.header["SOAPAction"] = "urn:fromClient"
	rec := lastReceived(t, bs, send(t, req))
	addressedBody(t, rec, req.body, "<soapenv:Header>", wsaFinalDecl, "http://"+bs[0].addr+"/", "urn:placeOrder", "")
}

// wsa:To names the upstream that served the request, also when a retry after
// a dial error moved it, and every request gets its own MessageID; with
// request_buffers reverse_proxy rewinds the body for the retry, which must be
// addressed again too.
func TestAddressingFollowsFailover(t *testing.T) {
	for _, buffers := range []string{"", "request_buffers 1MiB"} {
		t.Run("buffers="+buffers, func(t *testing.T) {
			bs := startBackends(t, 3)
			initCaddy(t, addressingConfig(bs, "", "lb_retries 2\n"+buffers))
			req := soapRequest("1.1", "move-me")
			req.path = servicePath
			ids := map[string]bool{}
			check := func(rep reply) {
				t.Helper()
				rec := lastReceived(t, bs, rep)
				id := addressedBody(t, rec, req.body, "<soapenv:Header>", wsaFinalDecl,
					"http://"+backendNamed(t, bs, rep.backend).addr+servicePath, "", "")
				if ids[id] {
					t.Errorf("MessageID %s sent twice", id)
				}
				ids[id] = true
			}
			first := send(t, req)
			check(first)
			check(send(t, req))
			backendNamed(t, bs, first.backend).Stop()
			for _, chunked := range []bool{false, true} {
				req.chunked = chunked
				rep := send(t, req)
				if rep.backend == first.backend {
					t.Fatalf("served by stopped backend %s", rep.backend)
				}
				check(rep)
				if rec := lastReceived(t, bs, rep); (rec.ContentLength == -1) != chunked {
					t.Errorf("chunked=%v: backend got Content-Length %d", chunked, rec.ContentLength)
				}
			}
		})
	}
}

func TestAddressingClientHeadersReplacedOrPreserved(t *testing.T) {
	clientWSA := `<wsa:To ` + wsaFinalDecl + `>http://client.example/</wsa:To><wsa:MessageID ` + wsaFinalDecl + `>urn:uuid:client-1</wsa:MessageID>`
	body := []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` + clientWSA +
		`</soapenv:Header><soapenv:Body><m:getQuote xmlns:m="http://services.samples"/></soapenv:Body></soapenv:Envelope>`)
	req := request{header: map[string]string{"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"}, body: body}

	t.Run("replaced", func(t *testing.T) {
		bs := startBackends(t, 1)
		initCaddy(t, addressingConfig(bs, "", ""))
		rec := lastReceived(t, bs, send(t, req))
		sent := bytes.Replace(body, []byte(clientWSA), nil, 1)
		addressedBody(t, rec, sent, "<soapenv:Header>", wsaFinalDecl, "http://"+bs[0].addr+"/", "urn:getQuote", "")
	})
	t.Run("preserved", func(t *testing.T) {
		bs := startBackends(t, 1)
		initCaddy(t, addressingConfig(bs, `final {
				preserve
			}`, ""))
		rec := lastReceived(t, bs, send(t, req))
		want := bytes.Replace(body, []byte("<soapenv:Header>"),
			[]byte("<soapenv:Header "+wsaFinalDecl+"><wsa:Action>urn:getQuote</wsa:Action>"), 1)
		if !bytes.Equal(rec.Body, want) {
			t.Errorf("backend got\n%s\nwant\n%s", rec.Body, want)
		}
	})
}

func TestAddressingCreatesHeader(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, addressingConfig(bs, "", ""))
	for _, ns := range []string{soap.Namespace11, soap.Namespace12} {
		open := `<s:Envelope xmlns:s="` + ns + `">`
		body := []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + open + "\n  <s:Body><m:getQuote xmlns:m=\"urn:m\"/></s:Body>\n</s:Envelope>\n")
		req := request{header: map[string]string{"Content-Type": "text/xml"}, body: body}
		rec := lastReceived(t, bs, send(t, req))
		// As if the client had sent an empty Header.
		sent := bytes.Replace(body, []byte(open), []byte(open+"<s:Header></s:Header>"), 1)
		addressedBody(t, rec, sent, "<s:Header>", wsaFinalDecl, "http://"+bs[0].addr+"/", "", "")
	}
}

// Bodies that are not SOAP envelopes, or that break before the Header ends,
// reach the backend exactly as sent.
func TestAddressingLeavesOtherBodiesUntouched(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, addressingConfig(bs, "", ""))
	cases := []request{
		{header: map[string]string{"Content-Type": "application/json"}, body: []byte(`{"soap": "<soapenv:Envelope/>"}`)},
		{header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<order><symbol>IBM</symbol></order>`)},
		{header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header><a></soapenv:Header><soapenv:Body/></soapenv:Envelope>`)},
		{header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>`)},
		{header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<?xml version="1.0" encoding="ISO-8859-1"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body/></soapenv:Envelope>`)},
		{header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` +
			strings.Repeat("<x:pad xmlns:x=\"urn:x\">0123456789</x:pad>", 2000) + `</soapenv:Header><soapenv:Body/></soapenv:Envelope>`)}, // over the peek limit
		{method: http.MethodGet},
	}
	for i, req := range cases {
		for _, chunked := range []bool{false, true} {
			req.chunked = chunked && req.body != nil
			rec := lastReceived(t, bs, send(t, req))
			sum := sha256.Sum256(req.body)
			if rec.BodySHA != hex.EncodeToString(sum[:]) || (rec.ContentLength == -1) != req.chunked {
				t.Errorf("case %d chunked=%v: backend got %.300q (Content-Length %d), want %.300q unchanged", i, chunked, rec.Head, rec.ContentLength, req.body)
			}
		}
	}
}

// A 10 MB SOAP message is addressed and streamed: the backend gets every byte
// with the right length, sent with Content-Length or chunked as it came.
func TestAddressingLargeBody(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, addressingConfig(bs, "", ""))
	var buf bytes.Buffer
	buf.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><m:upload xmlns:m="urn:m">`)
	for buf.Len() < 10<<20 {
		fmt.Fprintf(&buf, "<m:line>%08d</m:line>", buf.Len())
	}
	buf.WriteString(`</m:upload></soapenv:Body></soapenv:Envelope>`)
	body := buf.Bytes()
	for _, chunked := range []bool{false, true} {
		req := request{header: map[string]string{"Content-Type": "text/xml", "SOAPAction": "urn:upload"}, body: body, chunked: chunked}
		rec := lastReceived(t, bs, send(t, req))
		m := messageIDPattern.FindSubmatch(rec.Head)
		if m == nil {
			t.Fatalf("chunked=%v: no MessageID in %s", chunked, rec.Head)
		}
		want := bytes.Replace(body, []byte("<soapenv:Header/>"),
			[]byte("<soapenv:Header "+wsaFinalDecl+">"+wsaBlocks("http://"+bs[0].addr+"/", string(m[1]), "urn:upload")+"</soapenv:Header>"), 1)
		if sum := sha256.Sum256(want); rec.BodySHA != hex.EncodeToString(sum[:]) || rec.BodyLen != len(want) {
			t.Fatalf("chunked=%v: backend got %d bytes, want %d (%s...)", chunked, rec.BodyLen, len(want), rec.Head[:300])
		}
		wantLength := int64(len(want))
		if chunked {
			wantLength = -1
		}
		if rec.ContentLength != wantLength {
			t.Errorf("chunked=%v: backend got Content-Length %d, want %d", chunked, rec.ContentLength, wantLength)
		}
	}
}

func TestAddressingCaddyfileErrors(t *testing.T) {
	cases := map[string]string{
		"addressing wsa2004":                  "wsa2004",
		"addressing final extra":              "wrong argument count",
		"addressing {\n\t\tkeep\n\t}":         "unrecognized addressing option 'keep'",
		"addressing {\n\t\tpreserve yes\n\t}": "wrong argument count",
		"addressing\n\taddressing submission": "addressing already specified",
	}
	for block, want := range cases {
		d := caddyfile.NewTestDispenser("simple_client_session {\n\t" + block + "\n}")
		var p policy.SimpleClientSession
		if err := p.UnmarshalCaddyfile(d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", block, err, want)
		}
	}
}

// With a TLS transport, wsa:To says https.
func TestAddressingToIsHTTPSOverTLS(t *testing.T) {
	got := make(chan []byte, 1)
	tlsBackend := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		select {
		case got <- body: // the first request's body; a handler never blocks
		default:
		}
	}))
	defer tlsBackend.Close()
	addr := strings.TrimPrefix(tlsBackend.URL, "https://")
	initCaddy(t, testConfig(fmt.Sprintf(`	reverse_proxy %s {
		lb_policy simple_client_session {
			addressing
		}
		transport http {
			tls_insecure_skip_verify
		}
	}`, addr)))
	req := soapRequest("1.1", "tls")
	req.path = servicePath
	if rep := send(t, req); rep.status != http.StatusOK {
		t.Fatalf("status %d: %s", rep.status, rep.body)
	}
	select {
	case body := <-got:
		if !bytes.Contains(body, []byte("<wsa:To>https://"+addr+servicePath+"</wsa:To>")) {
			t.Errorf("backend got %s, want wsa:To https://%s%s", body, addr, servicePath)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the TLS backend got no request within 10s")
	}
}
