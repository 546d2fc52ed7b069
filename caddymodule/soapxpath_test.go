package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// soapXPathPage is the reference page of the soap_xpath matcher.
const soapXPathPage = "../docs/soap_xpath.md"

// getQuoteRequest is Synapse sample 1's getQuote for symbol, in a SOAP 1.1
// or 1.2 envelope.
func getQuoteRequest(version, symbol string) request {
	ns, ct := envelopeOf(version)
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="%s">
   <soapenv:Header/>
   <soapenv:Body>
      <m0:getQuote xmlns:m0="http://services.samples"><m0:request><m0:symbol>%s</m0:symbol></m0:request></m0:getQuote>
   </soapenv:Body>
</soapenv:Envelope>`, ns, symbol)
	return request{path: "/services/StockQuoteProxy", header: map[string]string{"Content-Type": ct, "SOAPAction": "urn:getQuote"}, body: []byte(body)}
}

// sendTo sends req and checks that the backend named want answered and
// received exactly the bytes sent, with the Content-Length sent (or none,
// for a chunked request).
func sendTo(t *testing.T, bs []*backend, req request, want string) {
	t.Helper()
	rep := send(t, req)
	if rep.status != http.StatusOK || rep.backend != want {
		t.Fatalf("status %d from %q, want 200 from %q (body %q)", rep.status, rep.backend, want, rep.body)
	}
	rec := lastReceived(t, bs, rep)
	if sum := sha256.Sum256(req.body); rec.BodySHA != hex.EncodeToString(sum[:]) || rec.BodyLen != len(req.body) {
		t.Errorf("%s received %d bytes (head %.200q), not the %d sent", want, rec.BodyLen, rec.Head, len(req.body))
	}
	wantLength := int64(len(req.body))
	if req.chunked {
		wantLength = -1
	}
	if rec.ContentLength != wantLength {
		t.Errorf("%s received Content-Length %d, want %d", want, rec.ContentLength, wantLength)
	}
}

// Two handle blocks, one on a soap_xpath matcher, route getQuote by symbol,
// in either SOAP version, with or without a Content-Length; the backend gets
// the bytes sent.
func TestSOAPXPathRoutesBySymbol(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, testConfig(fmt.Sprintf(`
	@ibm soap_xpath //m0:getQuote/m0:request/m0:symbol IBM {
		namespace m0 http://services.samples
	}
	handle @ibm {
		reverse_proxy %s
	}
	handle {
		reverse_proxy %s
	}`, bs[0].addr, bs[1].addr)))
	for _, version := range []string{"1.1", "1.2"} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("soap%s_chunked_%v", version, chunked), func(t *testing.T) {
				ibm, msft := getQuoteRequest(version, "IBM"), getQuoteRequest(version, "MSFT")
				ibm.chunked, msft.chunked = chunked, chunked
				sendTo(t, bs, ibm, bs[0].name)
				sendTo(t, bs, msft, bs[1].name)
			})
		}
	}
	t.Run("not_xml", func(t *testing.T) {
		req := getQuoteRequest("1.1", "IBM")
		req.header["Content-Type"] = "application/octet-stream"
		sendTo(t, bs, req, bs[1].name)
	})
	t.Run("over_peek_limit", func(t *testing.T) {
		req := getQuoteRequest("1.1", "IBM")
		req.body = []byte(strings.Replace(string(req.body), "<soapenv:Header/>",
			"<soapenv:Header><p>"+strings.Repeat("x", 64<<10)+"</p></soapenv:Header>", 1))
		sendTo(t, bs, req, bs[1].name)
	})
}

// An invalid expression fails the load, naming it.
func TestSOAPXPathInvalidExpression(t *testing.T) {
	assertLoadError(t, testConfig(`
	@bad soap_xpath //m0:symbol[ {
		namespace m0 http://services.samples
	}
	respond @bad 200`), "caddyfile", `soap_xpath: XPath expression \"//m0:symbol[\"`)
}

// Every Caddyfile example of the soap_xpath page loads and routes Synapse
// sample 1's IBM getQuote to localhost:9001 and MSFT's elsewhere.
func TestSOAPXPathDocCaddyfileExamples(t *testing.T) {
	examples := docBlocksOf(t, soapXPathPage, "caddyfile")
	if len(examples) < 3 {
		t.Fatalf("%s has %d caddyfile examples, want the 3 it is written with", soapXPathPage, len(examples))
	}
	for i, example := range examples {
		t.Run(fmt.Sprint(i+1), func(t *testing.T) {
			d := newDocBackends(t)
			initCaddy(t, testGlobals("")+d.adapt(t, example))
			checkSOAPXPathExample(t, d)
		})
	}
}

// The JSON example of the page is the routes of a server.
func TestSOAPXPathDocJSONExample(t *testing.T) {
	examples := docBlocksOf(t, soapXPathPage, "json")
	if len(examples) != 1 {
		t.Fatalf("%s has %d json examples, want 1", soapXPathPage, len(examples))
	}
	d := newDocBackends(t)
	cfg := fmt.Sprintf(`{
	"admin": {"listen": "localhost:%d"},
	"apps": {"http": {"grace_period": 1, "http_port": %d, "https_port": %d, "servers": {"srv0": {
		"listen": [":%d"],
		"routes": %s
	}}}}
}`, adminPort, httpPort, httpPort+1, httpPort, d.adapt(t, examples[0]))
	initCaddyWith(t, cfg, "json")
	checkSOAPXPathExample(t, d)
}

func checkSOAPXPathExample(t *testing.T, d *docBackends) {
	t.Helper()
	for _, version := range []string{"1.1", "1.2"} {
		sendTo(t, d.plain, getQuoteRequest(version, "IBM"), d.plain[0].name)
		rep := send(t, getQuoteRequest(version, "MSFT"))
		if rep.status != http.StatusOK || rep.backend == "" || rep.backend == d.plain[0].name {
			t.Errorf("SOAP %s MSFT: status %d from %q, want 200 from another than %s", version, rep.status, rep.backend, d.plain[0].name)
		}
	}
}

// The hostile bodies go through a soap_xpath matcher whose limit lets it parse
// all but the 10 MB one: each is proxied unchanged at a bounded cost, no
// entity is fetched, and those that SOAP or the matcher refuses (a document
// type, nesting deeper than its bound, bytes that are not UTF-8, a body over
// the limit) do not match. The tree of a parsed body costs a few times its
// size, so the limit, not the body, bounds the matcher's memory.
func TestSOAPXPathHostileXML(t *testing.T) {
	entityURL, entityFetches := entityServer(t)
	bs := startBackends(t, 2)
	initCaddy(t, testConfig(fmt.Sprintf(`
	@client soap_xpath //syn:ClientID {
		namespace syn http://ws.apache.org/ns/synapse
		peek_limit 2MiB
	}
	handle @client {
		reverse_proxy %s
	}
	handle {
		reverse_proxy %s
	}`, bs[0].addr, bs[1].addr)))
	refused := map[string]bool{
		"billion_laughs": true, "external_entity": true, "external_parameter_entity": true,
		"nesting_100000_deep": true, "invalid_utf8": true, "client_id_10MB": true,
		"utf16le_with_bom": true, "truncated_in_client_id": true,
	}
	for _, tc := range hostileCases(entityURL) {
		t.Run(tc.name, func(t *testing.T) {
			rep := sendHostile(t, bs, tc)
			if refused[tc.name] && rep.backend != bs[1].name {
				t.Errorf("matched (served by %s); want no match", rep.backend)
			}
		})
	}
	t.Run("declared_iso_8859_1_and_utf8_bom_match", func(t *testing.T) {
		for _, tc := range hostileCases(entityURL) {
			if tc.name == "declared_iso_8859_1" || tc.name == "utf8_bom" {
				if rep := sendHostile(t, bs, tc); rep.backend != bs[0].name {
					t.Errorf("%s: served by %s; want a match", tc.name, rep.backend)
				}
			}
		}
	})
	if n := entityFetches.Load(); n != 0 {
		t.Errorf("the external entity was fetched %d times", n)
	}
}
