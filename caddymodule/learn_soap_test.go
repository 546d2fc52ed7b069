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

	"github.com/soap-affinity/caddy-soap-affinity/internal/soaptest"
)

// The namespaces an Axis2 service and its client write, as they write them.
const (
	axis2NS = "http://ws.apache.org/namespaces/axis2"
	wsaNS   = "http://www.w3.org/2005/08/addressing"
)

var serviceGroupIDPattern = regexp.MustCompile(`<axis2:ServiceGroupId[^>]*>([^<]*)</axis2:ServiceGroupId>`)

// axis2Session answers as an Axis2 service in soapsession scope does: a
// request without a ServiceGroupId of this backend's (prefix
// "urn:uuid:<name>.") starts a session, and every response hands the
// session's id out in wsa:ReplyTo/wsa:ReferenceParameters. pad makes the
// Body that many bytes longer.
func axis2Session(pad int) func(b *backend, w http.ResponseWriter, r *http.Request) {
	return func(b *backend, w http.ResponseWriter, r *http.Request) {
		rec := b.Received()
		id := ""
		if m := serviceGroupIDPattern.FindSubmatch(rec[len(rec)-1].Head); m != nil && strings.HasPrefix(string(m[1]), "urn:uuid:"+b.name+".") {
			id = string(m[1])
		} else {
			id = fmt.Sprintf("urn:uuid:%s.%d", b.name, issued.Add(1))
		}
		w.Header().Set("Content-Type", "text/xml; charset=UTF-8")
		_, _ = io.WriteString(w, soaptest.Open11+`<soapenv:Header><wsa:ReplyTo xmlns:wsa="`+wsaNS+`">`+
			`<wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address><wsa:ReferenceParameters>`+
			`<axis2:ServiceGroupId xmlns:axis2="`+axis2NS+`">`+id+`</axis2:ServiceGroupId>`+
			`</wsa:ReferenceParameters></wsa:ReplyTo></soapenv:Header><soapenv:Body><r>`)
		for n := pad; n > 0; n -= 64 << 10 {
			_, _ = io.WriteString(w, strings.Repeat("z", min(n, 64<<10)))
		}
		_, _ = io.WriteString(w, `</r></soapenv:Body>`+soaptest.Close)
	}
}

// soapSessionRequest is a SOAP request carrying ServiceGroupId id in its
// Header, or none for "".
func soapSessionRequest(id string) request {
	header := "-"
	if id != "" {
		header = `<axis2:ServiceGroupId xmlns:axis2="` + axis2NS + `">` + id + `</axis2:ServiceGroupId>`
	}
	return request{header: map[string]string{"Content-Type": "text/xml; charset=UTF-8"}, body: []byte(soaptest.Env11(header))}
}

func TestSOAPSessionFollowsTheServiceGroupIdItsUpstreamHandedOut(t *testing.T) {
	bs := make([]*backend, 3)
	for i := range bs {
		bs[i] = newBackendWith(t, fmt.Sprintf("b%d", i+1), axis2Session(0))
	}
	initCaddy(t, learningConfig(bs, "session soap", ""))
	homes := map[string]bool{}
	for c := range 3 {
		first := send(t, soapSessionRequest(""))
		m := serviceGroupIDPattern.FindStringSubmatch(first.body)
		if m == nil || !strings.HasPrefix(m[1], "urn:uuid:"+first.backend+".") {
			t.Fatalf("client %d: %s answered %q", c, first.backend, first.body)
		}
		for i := range 4 {
			rep := send(t, soapSessionRequest(m[1]))
			if rep.backend != first.backend || !strings.Contains(rep.body, m[1]) {
				t.Fatalf("client %d request %d with ServiceGroupId %s: served by %s", c, i+2, m[1], rep.backend)
			}
		}
		homes[first.backend] = true
	}
	if len(homes) != 3 {
		t.Fatalf("three clients' sessions on %v, want three backends", homes)
	}
}

func TestSOAPSessionLearningLeavesResponseBytesUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pad     int
		chunked bool
		gzip    bool
	}{
		{"1KB", 1 << 10, false, false},
		{"10MB", 10 << 20, false, false},
		{"chunked 10MB", 10 << 20, true, false},
		{"gzip 10MB", 10 << 20, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []byte // what the backend sent last
			respond := func(b *backend, w http.ResponseWriter, r *http.Request) {
				var buf bytes.Buffer
				rec := httptestRecorder{h: http.Header{}, body: &buf}
				axis2Session(tc.pad)(b, rec, r)
				body := buf.Bytes()
				w.Header().Set("Content-Type", rec.h.Get("Content-Type"))
				if tc.gzip {
					var z bytes.Buffer
					zw := gzip.NewWriter(&z)
					_, _ = zw.Write(body)
					_ = zw.Close()
					body = z.Bytes()
					w.Header().Set("Content-Encoding", "gzip")
				}
				want = body
				if !tc.chunked {
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				}
				for rest := body; len(rest) > 0; {
					n := min(len(rest), 100_000)
					_, _ = w.Write(rest[:n])
					if tc.chunked {
						http.NewResponseController(w).Flush()
					}
					rest = rest[n:]
				}
			}
			bs := []*backend{newBackendWith(t, "b1", respond), newBackendWith(t, "b2", respond)}
			initCaddy(t, learningConfig(bs, "session soap", ""))
			first := sendRaw(t, soapSessionRequest(""))
			if sha(first.raw) != sha(want) {
				t.Fatalf("got %d bytes, sha-256 %s; the backend sent %d, %s", len(first.raw), sha(first.raw), len(want), sha(want))
			}
			plain := first.raw
			if tc.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(first.raw))
				if err != nil {
					t.Fatal(err)
				}
				plain, _ = io.ReadAll(zr)
			}
			m := serviceGroupIDPattern.FindSubmatch(plain[:min(len(plain), 4096)])
			if m == nil {
				t.Fatal("no ServiceGroupId in the response")
			}
			for i := range 3 {
				if got := sendRaw(t, soapSessionRequest(string(m[1]))); got.backend != first.backend || sha(got.raw) != sha(want) {
					t.Fatalf("request %d with %s: served by %s (first by %s), %d bytes", i+2, m[1], got.backend, first.backend, len(got.raw))
				}
			}
		})
	}
}

// httptestRecorder collects a response written by a test handler.
type httptestRecorder struct {
	h    http.Header
	body *bytes.Buffer
}

func (r httptestRecorder) Header() http.Header         { return r.h }
func (r httptestRecorder) WriteHeader(int)             {}
func (r httptestRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }

// rawReply is a reply with its body as it came on the wire, not decoded.
type rawReply struct {
	backend string
	raw     []byte
}

// sendRaw is send without the client's transparent gzip decoding.
func sendRaw(t *testing.T, req request) rawReply {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, proxyURL, bytes.NewReader(req.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	r.Header.Set("Accept-Encoding", "gzip") // set by hand: the body stays compressed
	resp, err := testClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	return rawReply{backend: resp.Header.Get("X-Backend"), raw: raw}
}
