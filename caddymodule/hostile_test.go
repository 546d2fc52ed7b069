package caddymodule

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/soap-affinity/caddy-soap-affinity/soapfault"
)

const (
	hostileOpen  = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>`
	hostileClose = `</soapenv:Header><soapenv:Body><m:getQuote xmlns:m="http://services.samples"/></soapenv:Body></soapenv:Envelope>`
	hostileID    = `<syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">%s</syn:ClientID>`
)

func hostileEnvelope(header string) string { return hostileOpen + header + hostileClose }

// billionLaughsBody declares entities that would expand to 10^9 "lol"s and
// uses the biggest as the ClientID.
func billionLaughsBody() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">`)
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, `<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
	}
	b.WriteString(`]>` + hostileEnvelope(fmt.Sprintf(hostileID, "&lol9;")))
	return b.String()
}

// TestHostileXMLIsProxiedUnchanged sends hostile SOAP bodies through a real
// Caddy: each is proxied by the fallback with the backend receiving exactly
// the bytes sent, no external entity is fetched, and none costs memory out of
// proportion to its size (per-case time and allocation are logged).
func TestHostileXMLIsProxiedUnchanged(t *testing.T) {
	entityURL, entityFetches := entityServer(t)

	bs := startBackends(t, 2)
	initCaddy(t, proxyConfig(bs, "", ""))

	cases := hostileCases(entityURL)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { sendHostile(t, bs, tc) })
	}
	if n := entityFetches.Load(); n != 0 {
		t.Errorf("the external entity was fetched %d times", n)
	}
}

// entityServer serves an external entity and counts its fetches.
func entityServer(t *testing.T) (url string, fetches *atomic.Int64) {
	fetches = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		fmt.Fprint(w, "fetched")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + "/entity", fetches
}

// sendHostile sends the body of tc through the test Caddy, requires a 200
// and that a backend of bs received it unchanged, bounds what it cost, and
// returns the reply.
func sendHostile(t *testing.T, bs []*backend, tc hostileCase) reply {
	t.Helper()
	ct := tc.contentType
	if ct == "" {
		ct = "text/xml; charset=UTF-8"
	}
	req := request{header: map[string]string{"Content-Type": ct}, body: []byte(tc.body)}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	rep := send(t, req)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	// Client, proxy and backend share this process: allocation counts
	// all three, so the bound is generous; an entity expansion (1 GB
	// for the laughs) or a copy per nesting level would break it.
	t.Logf("%d bytes: status %d in %s, %.1f MB allocated (client, proxy and backend)", len(tc.body), rep.status, took.Round(time.Millisecond), mb(allocated))
	if rep.status != http.StatusOK {
		t.Fatalf("status %d, body %q", rep.status, rep.body)
	}
	if limit := uint64(8*len(tc.body)) + 32<<20; allocated > limit {
		t.Errorf("allocated %.1f MB for a %d-byte body (bound %.1f MB)", mb(allocated), len(tc.body), mb(limit))
	}
	sum := sha256.Sum256(req.body)
	if !receivedBody(bs, hex.EncodeToString(sum[:]), len(req.body)) {
		t.Errorf("no backend received the %d bytes sent, unchanged", len(req.body))
	}
	return rep
}

// hostileCase is a hostile body, and its Content-Type ("" for text/xml).
type hostileCase struct{ name, body, contentType string }

// hostileCases are the hostile bodies that every reader of the body must
// survive; entityURL counts fetches of an external entity.
func hostileCases(entityURL string) []hostileCase {
	return []hostileCase{
		{"billion_laughs", billionLaughsBody(), ""},
		{"external_entity", `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY ext SYSTEM "` + entityURL + `">]>` +
			hostileEnvelope(fmt.Sprintf(hostileID, "&ext;")), ""},
		{"external_parameter_entity", `<?xml version="1.0"?><!DOCTYPE e [<!ENTITY % ext SYSTEM "` + entityURL + `"> %ext;]>` +
			hostileEnvelope(fmt.Sprintf(hostileID, "x")), ""},
		{"nesting_100000_deep", hostileEnvelope(strings.Repeat("<a>", 100_000) + strings.Repeat("</a>", 100_000) + fmt.Sprintf(hostileID, "deep")), ""},
		{"attribute_1MB", hostileEnvelope(`<h a="` + strings.Repeat("v", 1<<20) + `"/>` + fmt.Sprintf(hostileID, "attr")), ""},
		{"element_name_1MB", hostileEnvelope(`<` + strings.Repeat("n", 1<<20) + `/>` + fmt.Sprintf(hostileID, "name")), ""},
		{"namespace_declarations_5000", hostileEnvelope(`<h` + nsDecls(5000) + `/>` + fmt.Sprintf(hostileID, "ns")), ""},
		{"client_id_10MB", hostileEnvelope(fmt.Sprintf(hostileID, strings.Repeat("i", 10<<20))), ""},
		{"invalid_utf8", hostileEnvelope(fmt.Sprintf(hostileID, "bad\xff\xfe\xc3")), ""},
		{"declared_iso_8859_1", `<?xml version="1.0" encoding="ISO-8859-1"?>` + hostileEnvelope(fmt.Sprintf(hostileID, "caf\xe9")), "text/xml; charset=ISO-8859-1"},
		{"declared_utf16", `<?xml version="1.0" encoding="UTF-16"?>` + hostileEnvelope(fmt.Sprintf(hostileID, "u16")), "text/xml; charset=UTF-16"},
		{"utf16le_with_bom", utf16LE(`<?xml version="1.0" encoding="UTF-16"?>` + hostileEnvelope(fmt.Sprintf(hostileID, "u16"))), "text/xml; charset=UTF-16"},
		{"utf8_bom", "\uFEFF" + hostileEnvelope(fmt.Sprintf(hostileID, "bom")), ""},
		{"truncated_in_client_id", hostileOpen + fmt.Sprintf(hostileID, "cut")[:60], ""},
	}
}

// utf16LE is s in UTF-16, little-endian, after a byte order mark.
func utf16LE(s string) string {
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return string(b)
}

func nsDecls(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:ns:%d"`, i, i)
	}
	return b.String()
}

// receivedBody reports whether a backend received a body of that length and digest.
func receivedBody(bs []*backend, sha string, length int) bool {
	for _, b := range bs {
		for _, rec := range b.Received() {
			if rec.BodySHA == sha && rec.BodyLen == length && rec.ContentLength == int64(length) {
				return true
			}
		}
	}
	return false
}

// soap_fault never reads the request body: whatever the client sent (every
// hostile body, and one of 10 MB), the fault it answers when no upstream
// takes the request is the one its Content-Type asks for, whole.
func TestSOAPFaultAnswersHostileBodies(t *testing.T) {
	entityURL, entityFetches := entityServer(t)
	tester := sfServe(t, fmt.Sprintf(`:9080 {
	soap_fault {
		version auto
	}
	reverse_proxy %s
}
`, deadAddr(t)))
	cases := append(hostileCases(entityURL),
		hostileCase{"body_10MB", hostileEnvelope(fmt.Sprintf(hostileID, "big")) + strings.Repeat(" ", 10<<20), ""},
		hostileCase{"soap12_not_utf8", strings.Replace(hostileEnvelope(fmt.Sprintf(hostileID, "\xff")), "http://schemas.xmlsoap.org/soap/envelope/", sfNS12, 1), "application/soap+xml; charset=UTF-8"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ct := tc.contentType
			if ct == "" {
				ct = "text/xml; charset=UTF-8"
			}
			resp, body := sfPost(t, tester, proxyURL+"/", ct, tc.body)
			want := sfDefault11(soapfault.DefaultReason)
			if strings.HasPrefix(ct, "application/soap+xml") {
				want = sfFault{Version: "soap12", Code: "soap12Env:VersionMismatch", CodeNS: sfNS12, Reason: soapfault.DefaultReason, Lang: "en", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"}
			}
			if resp.StatusCode != want.StatusCode {
				t.Fatalf("status %d, want the fault's %d: %.300q", resp.StatusCode, want.StatusCode, body)
			}
			sfExpect(t, sfParseFault(t, resp, body), want)
		})
	}
	if n := entityFetches.Load(); n != 0 {
		t.Errorf("the external entity was fetched %d times", n)
	}
}
