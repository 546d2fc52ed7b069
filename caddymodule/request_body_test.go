package caddymodule

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/soaptest"
)

// Request bodies as real SOAP stacks send them: compressed, MTOM, declared in
// an ASCII-compatible alias of UTF-8. The id is read; the bytes pass as sent.

// gzipped compresses data.
func gzipped(data []byte) []byte {
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(data)
	_ = zw.Close()
	return z.Bytes()
}

func TestGzipRequestKeyedWithIdenticalBytesUpstream(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "", ""))
	sent := map[string]int{} // sha-256 of each compressed body sent -> its length
	for _, id := range []string{"zip-a", "zip-b", "zip-c"} {
		req := soapRequest("1.1", id)
		req.body = gzipped(req.body)
		req.header["Content-Encoding"] = "gzip"
		sent[sha(req.body)] = len(req.body)
		home := servedBy(t, req, 4)
		if !allSame(home) {
			t.Fatalf("gzip session %s served by %v", id, home)
		}
		// The same session named in the clear joins it: the id was read.
		if got := servedBy(t, withSession(id), 1)[0]; got != home[0] {
			t.Fatalf("session %s: gzip requests on %s, its header request on %s", id, home[0], got)
		}
	}
	n := 0
	for _, b := range bs {
		for _, rec := range b.Received() {
			if rec.Header.Get("Content-Encoding") != "gzip" {
				continue
			}
			n++
			if size, ok := sent[rec.BodySHA]; !ok || size != rec.BodyLen || rec.ContentLength != int64(size) {
				t.Errorf("backend %s got a gzip body of %d bytes (Content-Length %d) that no client sent", b.name, rec.BodyLen, rec.ContentLength)
			}
		}
	}
	if n != 12 {
		t.Errorf("backends got %d gzip bodies, want 12", n)
	}
}

func TestGzipBombCostsAtMostThePeekLimit(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, `{
			name bomb
			peek_limit 16KiB
		}`, ""))
	// About 1.3 MB of gzip that inflates to 1 GB: an envelope whose Header
	// never ends.
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	_, _ = io.WriteString(zw, soaptest.Open11+`<soapenv:Header><!--`)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 1 << 10 {
		_, _ = zw.Write(chunk)
	}
	_ = zw.Close()
	bomb := z.Bytes()
	before := scrape(t)
	rep := send(t, request{header: map[string]string{"Content-Type": "text/xml", "Content-Encoding": "gzip"}, body: bomb})
	if rep.status != http.StatusOK {
		t.Fatalf("status %d", rep.status)
	}
	checkDelta(t, "bomb", before, scrape(t), map[string]float64{
		metricsPrefix + `soap_peeks_total{outcome="over_limit",policy="bomb"}`: 1,
	})
	rec := backendNamed(t, bs, rep.backend).Received()
	if got := rec[len(rec)-1]; got.BodySHA != sha(bomb) {
		t.Fatalf("the backend got %d bytes, not the %d-byte bomb as sent", got.BodyLen, len(bomb))
	}
}

// mtomRequest is a CXF-style MTOM request whose root part (after an
// attachment part) carries the ClientID.
func mtomRequest(clientID string) request {
	root := "--uuid:b1\r\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\"\r\n" +
		"Content-Transfer-Encoding: binary\r\nContent-ID: <root.message@cxf.apache.org>\r\n\r\n" +
		soaptest.Env11(soaptest.ClientID(clientID)) + "\r\n"
	attachment := "--uuid:b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n" +
		"Content-ID: <photo@cxf.apache.org>\r\n\r\n" + strings.Repeat("\x89PNG\x00\xff", 500) + "\r\n"
	return request{
		header: map[string]string{"Content-Type": `multipart/related; type="application/xop+xml"; boundary="uuid:b1"; start="<root.message@cxf.apache.org>"; start-info="text/xml"`},
		body:   []byte(attachment + root + "--uuid:b1--\r\n"),
	}
}

func TestMTOMRequestKeyedByItsRootPart(t *testing.T) {
	bs := startBackends(t, 3)
	initCaddy(t, proxyConfig(bs, "", ""))
	for _, id := range []string{"mtom-a", "mtom-b", "mtom-c"} {
		home := servedBy(t, mtomRequest(id), 4)
		if !allSame(home) {
			t.Fatalf("MTOM session %s served by %v", id, home)
		}
		if got := servedBy(t, withSession(id), 1)[0]; got != home[0] {
			t.Fatalf("session %s: MTOM requests on %s, its header request on %s", id, home[0], got)
		}
		for _, rec := range backendNamed(t, bs, home[0]).Received() {
			if strings.Contains(string(rec.Head), id) && rec.BodySHA != sha(mtomRequest(id).body) {
				t.Fatalf("backend %s got the MTOM request changed", home[0])
			}
		}
	}
}

func TestEnvelopeDeclaredInAnASCIIAliasOfUTF8IsRead(t *testing.T) {
	// With ws_addressing too, which reads the Header again with encoding/xml
	// after the policy: the policy's peek is the same either way.
	for _, transport := range []string{"", "transport ws_addressing"} {
		t.Run("transport {"+transport+"}", func(t *testing.T) {
			bs := startBackends(t, 3)
			initCaddy(t, proxyConfig(bs, "", transport))
			for _, enc := range []string{"utf8", "US-ASCII", "ISO-8859-1"} {
				id := "declared-" + enc
				req := soapRequest("1.1", id)
				req.body = bytes.Replace(req.body, []byte(`encoding="UTF-8"`), []byte(`encoding="`+enc+`"`), 1)
				home := servedBy(t, req, 3)
				if !allSame(home) {
					t.Fatalf("%s: served by %v", enc, home)
				}
				if got := servedBy(t, withSession(id), 1)[0]; got != home[0] {
					t.Fatalf("%s: the envelope's session on %s, the header's on %s", enc, home[0], got)
				}
			}
		})
	}
}

// .NET's and Java's writers may start a UTF-8 message with a byte order
// mark: the id after it is read, with ws_addressing too, whose rewrite keeps
// the mark where it was.
func TestEnvelopeAfterAUTF8ByteOrderMarkIsRead(t *testing.T) {
	for _, transport := range []string{"", "transport ws_addressing"} {
		t.Run("transport {"+transport+"}", func(t *testing.T) {
			bs := startBackends(t, 3)
			initCaddy(t, proxyConfig(bs, "", transport))
			req := soapRequest("1.1", "bom-1")
			req.body = append([]byte("\uFEFF"), req.body...)
			home := servedBy(t, req, 3)
			if !allSame(home) {
				t.Fatalf("served by %v", home)
			}
			if got := servedBy(t, withSession("bom-1"), 1)[0]; got != home[0] {
				t.Fatalf("the envelope's session on %s, the header's on %s", home[0], got)
			}
			if rec := lastReceived(t, bs, send(t, req)); !bytes.HasPrefix(rec.Body, []byte("\uFEFF<?xml")) {
				t.Errorf("the upstream got %.100q, not the message after its byte order mark", rec.Body)
			}
		})
	}
}

// The parts before the root of a compressed MTOM message count against
// peek_limit as they are inflated, as the envelope does: a 3 KB attachment
// first, under a 2 KiB limit, leaves the request to the fallback, counted
// over_limit, and the upstream gets it as sent.
func TestCompressedMTOMAttachmentCountsAgainstThePeekLimit(t *testing.T) {
	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, `{
			name mtom_limit
			peek_limit 2KiB
		}`, ""))
	req := mtomRequest("mtom-over")
	req.body = gzipped(req.body)
	req.header["Content-Encoding"] = "gzip"
	if len(req.body) >= 2<<10 {
		t.Fatalf("the compressed message is %d bytes: want it within the limit", len(req.body))
	}
	before := scrape(t)
	rep := send(t, req)
	if rep.status != http.StatusOK {
		t.Fatalf("status %d", rep.status)
	}
	checkDelta(t, "mtom_limit", before, scrape(t), map[string]float64{
		metricsPrefix + `soap_peeks_total{outcome="over_limit",policy="mtom_limit"}`: 1,
	})
	if got := lastReceived(t, bs, rep); got.BodySHA != sha(req.body) {
		t.Errorf("the upstream got %d bytes, not the %d sent", got.BodyLen, len(req.body))
	}
	if n := sessionTable(t, "mtom_limit").Len(); n != 0 {
		t.Errorf("%d sessions stored, want none", n)
	}
}
