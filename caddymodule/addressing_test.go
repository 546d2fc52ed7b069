package caddymodule

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soap"
)

const (
	wsaFinalDecl      = `xmlns:wsa="` + soap.WSAFinalNamespace + `"`
	wsaSubmissionDecl = `xmlns:wsa="` + soap.WSASubmissionNamespace + `"`
	servicePath       = "/services/LoadBalanceProxy"
	soapHeaderTag     = "<soapenv:Header>"
)

var messageIDPattern = regexp.MustCompile(`<wsa:MessageID>(urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})</wsa:MessageID>`)

// wsaBlocks renders the blocks the transport writes, for an exact comparison.
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
	m := messageIDPattern.FindSubmatch(rec.Body)
	if m == nil {
		t.Fatalf("no wsa:MessageID with a random UUID in %.2000s", rec.Body)
	}
	id := string(m[1])
	open := strings.TrimSuffix(headerTag, ">")
	want := strings.Replace(string(sent), headerTag, open+" "+decl+">"+wsaBlocks(to, id, action)+extra, 1)
	if string(rec.Body) != want {
		t.Fatalf("backend got (%d bytes)\n%.4000s\nwant (%d bytes)\n%.4000s", len(rec.Body), rec.Body, len(want), want)
	}
	if rec.ContentLength != int64(len(want)) && (rec.ContentLength != -1 || len(rec.TransferEncoding) == 0) {
		t.Errorf("backend got Content-Length %d, want %d", rec.ContentLength, len(want))
	}
	return id
}

// sendThrough proxies to b alone with the given reverse_proxy options, sends
// a SOAP 1.1 request for path with the client's SOAPAction, and returns the
// request and what b got of it.
func sendThrough(t *testing.T, b *backend, options, path, soapAction string) (request, received) {
	t.Helper()
	initCaddy(t, reverseProxyConfig(b.addr, options))
	req := soapRequest("1.1", "c1")
	req.path = path
	req.header["SOAPAction"] = soapAction
	return req, lastReceived(t, []*backend{b}, send(t, req))
}

// failsFirst answers the backend's first n requests 503.
func failsFirst(n int) func(b *backend, w http.ResponseWriter, r *http.Request) {
	return func(b *backend, w http.ResponseWriter, r *http.Request) {
		if len(b.Received()) <= n {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, "served by "+b.name)
	}
}

// With round_robin and first, and with this plugin's simple_client_session
// (without its own addressing), every request is addressed to the backend
// that got it, SOAP 1.1 and 1.2 alike, each with its own MessageID.
func TestAddressingWithEveryPolicy(t *testing.T) {
	for _, policy := range []string{"round_robin", "first", "simple_client_session"} {
		t.Run(policy, func(t *testing.T) {
			bs := startBackends(t, 2)
			initCaddy(t, reverseProxyConfig(addrs(bs), "lb_policy "+policy+"\n\t\ttransport ws_addressing"))
			ids := map[string]bool{}
			served := map[string]bool{}
			for i := range 4 {
				for _, version := range []string{"1.1", "1.2"} {
					req := soapRequest(version, "c1")
					req.path = servicePath + "?n=" + fmt.Sprint(i)
					req.chunked = i%2 == 1
					action := "urn:placeOrder"
					if version == "1.1" {
						req.header["SOAPAction"] = `"urn:placeOrder"`
					} else {
						req.header["Content-Type"] = `application/soap+xml; charset=UTF-8; action="urn:placeOrder"`
					}
					rep := send(t, req)
					rec := lastReceived(t, bs, rep)
					to := "http://" + backendNamed(t, bs, rep.backend).addr + req.path
					id := addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, to, action, "")
					if ids[id] {
						t.Errorf("MessageID %s sent for two client requests", id)
					}
					ids[id] = true
					served[rep.backend] = true
					if (rec.ContentLength == -1) != req.chunked {
						t.Errorf("chunked=%v: backend got Content-Length %d", req.chunked, rec.ContentLength)
					}
				}
			}
			if policy == "round_robin" && len(served) != 2 {
				t.Errorf("round_robin served by %v, want both backends", served)
			}
		})
	}
}

// The action header_up sets is the one written: reverse_proxy applies
// header_up to the request before it calls the transport.
func TestAddressingActionFromHeaderUp(t *testing.T) {
	b := newBackend(t, "b1")
	req, rec := sendThrough(t, b, "transport ws_addressing\n\t\theader_up SOAPAction \"urn:placeOrder\"", "/", "urn:fromClient")
	addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, "http://"+b.addr+"/", "urn:placeOrder", "")
	if got := rec.Header.Get("SOAPAction"); got != "urn:placeOrder" {
		t.Errorf("backend got SOAPAction %q", got)
	}
}

// A dial error to the first upstream is retried to the next (fail_duration
// marks the dead one down, else first would choose it again); the retry is
// addressed to the upstream that got it, with the body intact, sent with
// Content-Length or chunked as it came, with or without request_buffers
// (which makes reverse_proxy rewind the body for the retry).
func TestAddressingAfterDialErrorRetry(t *testing.T) {
	for _, buffers := range []string{"", "request_buffers 1MiB"} {
		t.Run("buffers="+buffers, func(t *testing.T) {
			bs := startBackends(t, 1)
			initCaddy(t, reverseProxyConfig(deadAddr(t)+" "+bs[0].addr,
				"lb_policy first\n\t\tlb_retries 2\n\t\tfail_duration 1m\n\t\ttransport ws_addressing\n\t\t"+buffers))
			for _, chunked := range []bool{false, true} {
				req := soapRequest("1.1", "c1")
				req.path = servicePath
				req.chunked = chunked
				req.header["SOAPAction"] = "urn:getQuote"
				rep := send(t, req)
				rec := lastReceived(t, bs, rep)
				addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, "http://"+bs[0].addr+servicePath, "urn:getQuote", "")
				// Chunked stays chunked also with request_buffers: reverse_proxy
				// keeps the client's Transfer-Encoding (as without this transport).
				if (rec.ContentLength == -1) != chunked {
					t.Errorf("chunked=%v: backend got Content-Length %d", chunked, rec.ContentLength)
				}
			}
		})
	}
}

// A retry resends the same message: the MessageID is the same at every
// attempt, wsa:To names the upstream of each. Each backend answers its first
// request 503, which lb_retry_match retries (with request_buffers, so that
// the body can be sent again): round_robin goes b1, b2, b1 or b2, b1, b2.
func TestAddressingRetryKeepsMessageID(t *testing.T) {
	bs := []*backend{newBackendWith(t, "b1", failsFirst(1)), newBackendWith(t, "b2", failsFirst(1))}
	initCaddy(t, reverseProxyConfig(addrs(bs), `lb_policy round_robin
		lb_retries 2
		lb_try_interval 10ms
		lb_retry_match {
			expression `+"`{rp.status_code} == 503`"+`
		}
		request_buffers 1MiB
		transport ws_addressing`))
	req := soapRequest("1.2", "c1")
	req.header["Content-Type"] = `application/soap+xml; action="urn:retry"`
	rep := send(t, req)
	if rep.status != http.StatusOK {
		t.Fatalf("status %d from %q, want 200 at the third attempt", rep.status, rep.backend)
	}
	ids := map[string]bool{}
	attempts := 0
	for _, b := range bs {
		for _, rec := range b.Received() {
			attempts++
			ids[addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, "http://"+b.addr+"/", "urn:retry", "")] = true
		}
	}
	if attempts != 3 || len(ids) != 1 {
		t.Errorf("%d attempts with MessageIDs %v, want 3 with one", attempts, ids)
	}
	// The next client request is another message.
	rep = send(t, req)
	id := addressedBody(t, lastReceived(t, bs, rep), req.body, soapHeaderTag, wsaFinalDecl,
		"http://"+backendNamed(t, bs, rep.backend).addr+"/", "urn:retry", "")
	if ids[id] {
		t.Errorf("a second client request reused MessageID %s", id)
	}
}

func TestAddressingSubmissionWritesAnonymousReplyTo(t *testing.T) {
	b := newBackend(t, "b1")
	req, rec := sendThrough(t, b, "transport ws_addressing {\n\t\t\tversion submission\n\t\t}", "/", "urn:getQuote")
	addressedBody(t, rec, req.body, soapHeaderTag, wsaSubmissionDecl, "http://"+b.addr+"/", "urn:getQuote",
		"<wsa:ReplyTo><wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address></wsa:ReplyTo>")
}

func TestAddressingClientHeadersReplacedOrPreserved(t *testing.T) {
	clientWSA := `<wsa:To ` + wsaFinalDecl + `>http://client.example/</wsa:To><wsa:MessageID ` + wsaFinalDecl + `>urn:uuid:client-1</wsa:MessageID>`
	body := []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` + clientWSA +
		`</soapenv:Header><soapenv:Body><m:getQuote xmlns:m="http://services.samples"/></soapenv:Body></soapenv:Envelope>`)
	req := request{header: map[string]string{"Content-Type": "text/xml", "SOAPAction": "urn:getQuote"}, body: body}

	t.Run("replaced", func(t *testing.T) {
		bs := startBackends(t, 1)
		initCaddy(t, reverseProxyConfig(addrs(bs), "transport ws_addressing"))
		rec := lastReceived(t, bs, send(t, req))
		sent := bytes.Replace(body, []byte(clientWSA), nil, 1)
		addressedBody(t, rec, sent, soapHeaderTag, wsaFinalDecl, "http://"+bs[0].addr+"/", "urn:getQuote", "")
	})
	t.Run("preserved", func(t *testing.T) {
		bs := startBackends(t, 1)
		initCaddy(t, reverseProxyConfig(addrs(bs), "transport ws_addressing {\n\t\t\tpreserve\n\t\t}"))
		rec := lastReceived(t, bs, send(t, req))
		want := bytes.Replace(body, []byte(soapHeaderTag),
			[]byte("<soapenv:Header "+wsaFinalDecl+"><wsa:Action>urn:getQuote</wsa:Action>"), 1)
		if !bytes.Equal(rec.Body, want) {
			t.Errorf("backend got\n%s\nwant\n%s", rec.Body, want)
		}
		if rec.ContentLength != int64(len(want)) {
			t.Errorf("backend got Content-Length %d, want %d", rec.ContentLength, len(want))
		}
	})
}

func TestAddressingCreatesHeader(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, reverseProxyConfig(addrs(bs), "transport ws_addressing"))
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

// Bodies that are not SOAP envelopes, that break before the Header ends, that
// are compressed or MTOM, reach the backend exactly as sent.
func TestAddressingLeavesOtherBodiesUntouched(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, reverseProxyConfig(addrs(bs), "transport ws_addressing"))
	envelope := soapRequest("1.1", "c1").body
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(envelope)
	zw.Close()
	mtom := []byte("--MIMEBoundary\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\nContent-ID: <root>\r\n\r\n" +
		string(envelope) + "\r\n--MIMEBoundary--\r\n")
	cases := map[string]request{
		"json":      {header: map[string]string{"Content-Type": "application/json"}, body: []byte(`{"soap": "<soapenv:Envelope/>"}`)},
		"plain xml": {header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<order><symbol>IBM</symbol></order>`)},
		"broken":    {header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header><a></soapenv:Header><soapenv:Body/></soapenv:Envelope>`)},
		"truncated": {header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>`)},
		"over the peek limit": {header: map[string]string{"Content-Type": "text/xml"}, body: []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` +
			strings.Repeat("<x:pad xmlns:x=\"urn:x\">0123456789</x:pad>", 2000) + `</soapenv:Header><soapenv:Body/></soapenv:Envelope>`)},
		"gzip":    {header: map[string]string{"Content-Type": "text/xml", "Content-Encoding": "gzip", "SOAPAction": "urn:a"}, body: gz.Bytes()},
		"deflate": {header: map[string]string{"Content-Type": "text/xml", "Content-Encoding": "deflate"}, body: envelope},
		"mtom":    {header: map[string]string{"Content-Type": `multipart/related; type="application/xop+xml"; boundary="MIMEBoundary"; start="<root>"`}, body: mtom},
		"get":     {method: http.MethodGet},
	}
	for name, req := range cases {
		for _, chunked := range []bool{false, true} {
			req.chunked = chunked && req.body != nil
			rec := lastReceived(t, bs, send(t, req))
			if rec.BodyLen != len(req.body) || rec.BodySHA != sha(req.body) || (rec.ContentLength == -1) != req.chunked {
				t.Errorf("%s chunked=%v: backend got %.300q (%d bytes, Content-Length %d), want %.300q unchanged", name, chunked, rec.Head, rec.BodyLen, rec.ContentLength, req.body)
			}
		}
	}
}

// A 10 MB SOAP message is addressed and streamed: the backend gets every byte
// with the right length, sent with Content-Length or chunked as it came.
func TestAddressingLargeBody(t *testing.T) {
	bs := startBackends(t, 1)
	initCaddy(t, reverseProxyConfig(addrs(bs), "transport ws_addressing"))
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
			t.Fatalf("chunked=%v: no MessageID in %.300s", chunked, rec.Head)
		}
		want := bytes.Replace(body, []byte("<soapenv:Header/>"),
			[]byte("<soapenv:Header "+wsaFinalDecl+">"+wsaBlocks("http://"+bs[0].addr+"/", string(m[1]), "urn:upload")+"</soapenv:Header>"), 1)
		if rec.BodyLen != len(want) || rec.BodySHA != sha(want) {
			t.Fatalf("chunked=%v: backend got %d bytes, want %d (%.300s...)", chunked, rec.BodyLen, len(want), rec.Head)
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

// With a TLS transport, wsa:To says https. (An https:// upstream with this
// wrapped transport adapts to the same JSON; package addressing's
// TestCaddyfileAdapt checks that reverse_proxy enables TLS through the
// wrapper.)
func TestAddressingToIsHTTPSOverTLS(t *testing.T) {
	tlsBackend := newTLSBackend(t, "tls")
	req, rec := sendThrough(t, tlsBackend, `transport ws_addressing {
			transport http {
				tls
				tls_insecure_skip_verify
			}
		}`, servicePath, "urn:secure")
	addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl, "https://"+tlsBackend.addr+servicePath, "urn:secure", "")
}

// A simple_client_session session whose backend stops fails over: lb_retries
// retries the refused dial on another backend, which the session is rebound
// to, and wsa:To names that backend. The body arrives whole, with
// Content-Length or chunked as it came, with or without request_buffers; every
// client request has a MessageID of its own.
func TestAddressingFollowsSessionFailover(t *testing.T) {
	for _, buffers := range []string{"", "request_buffers 1MiB"} {
		t.Run("buffers="+buffers, func(t *testing.T) {
			bs := startBackends(t, 3)
			initCaddy(t, proxyConfig(bs, "", "lb_retries 2\n\t\t"+buffers+"\n\t\ttransport ws_addressing"))
			req := soapRequest("1.1", "move-me")
			req.path = servicePath
			ids := map[string]bool{}
			check := func(rep reply) {
				t.Helper()
				rec := lastReceived(t, bs, rep)
				id := addressedBody(t, rec, req.body, soapHeaderTag, wsaFinalDecl,
					"http://"+backendNamed(t, bs, rep.backend).addr+servicePath, "", "")
				if ids[id] {
					t.Errorf("MessageID %s sent for two client requests", id)
				}
				ids[id] = true
			}
			first := send(t, req)
			check(first)
			if again := send(t, req); again.backend != first.backend {
				t.Fatalf("session served by %s, then by %s", first.backend, again.backend)
			} else {
				check(again)
			}
			backendNamed(t, bs, first.backend).Stop()
			var moved string
			for _, chunked := range []bool{false, true} {
				req.chunked = chunked
				rep := send(t, req)
				if rep.backend == first.backend {
					t.Fatalf("served by stopped backend %s", rep.backend)
				}
				if moved != "" && rep.backend != moved {
					t.Errorf("after the failover served by %s, then by %s: the session was not rebound", moved, rep.backend)
				}
				moved = rep.backend
				check(rep)
				if rec := lastReceived(t, bs, rep); (rec.ContentLength == -1) != chunked {
					t.Errorf("chunked=%v: backend got Content-Length %d", chunked, rec.ContentLength)
				}
			}
		})
	}
}

// A config that fails at provisioning names the offending value.
func TestAddressingProvisionErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"protocol":"ws_addressing","version":"wsa2004"}`:                                  `WS-Addressing version \"wsa2004\"`,
		`{"protocol":"ws_addressing","transport":{"protocol":"nosuch"}}`:                    "nosuch",
		`{"protocol":"ws_addressing","transport":{"protocol":"ws_addressing"}}`:             "cannot wrap another ws_addressing",
		`{"protocol":"ws_addressing","transport":{"protocol":"http","dial_timeout":"bad"}}`: "loading wrapped transport: loading module 'http'",
	} {
		t.Run(want, func(t *testing.T) {
			assertLoadError(t, jsonConfig(`{"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:1"}],"transport":`+cfg+`}`), "json", want)
		})
	}
}
