package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// The Select benchmarks compare, on the same pool of three upstreams and in one
// run, the policy's header-keyed hit with Caddy's own `header` policy (the same
// header, hashed) and `round_robin`. Each iteration is the first attempt of a
// new request: the request's vars map is emptied, as a new request's is.

const benchSessions = 1_000_000

// benchPool is a pool as Caddy's own selection policy tests build it: each
// Upstream needs a Host for Available().
func benchPool() reverseproxy.UpstreamPool {
	return reverseproxy.UpstreamPool{
		{Host: new(reverseproxy.Host), Dial: "127.0.0.1:9001"},
		{Host: new(reverseproxy.Host), Dial: "127.0.0.1:9002"},
		{Host: new(reverseproxy.Host), Dial: "127.0.0.1:9003"},
	}
}

var benchSessionIDs = sync.OnceValue(func() []string {
	ids := make([]string, benchSessions)
	for i := range ids {
		ids[i] = fmt.Sprintf("client-%07d", i)
	}
	return ids
})

// benchRequest is a request carrying Caddy's vars map, so that the policy's
// per-request state works as in a server. reset empties the vars for the next
// "request".
type benchRequest struct {
	r    *http.Request
	vars map[string]any
}

func newBenchRequest(b *testing.B, header, body string) *benchRequest {
	b.Helper()
	vars := map[string]any{}
	r, err := http.NewRequest(http.MethodPost, "http://localhost/services/LoadBalanceProxy", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	r.Header.Set(sessionaffinity.DefaultHeader, "")
	if header == "" {
		r.Header.Del(sessionaffinity.DefaultHeader)
	}
	return &benchRequest{r: r, vars: vars}
}

var benchHeaderKey = http.CanonicalHeaderKey(sessionaffinity.DefaultHeader)

func (br *benchRequest) setID(id string) { br.r.Header[benchHeaderKey][0] = id }

// provisionBench provisions a policy from JSON, as Caddy would, and binds
// benchSessions sessions spread over the pool.
func provisionBench(b *testing.B, cfg string, pool reverseproxy.UpstreamPool, bind bool) *SimpleClientSession {
	b.Helper()
	p := new(SimpleClientSession)
	if err := json.Unmarshal([]byte(cfg), p); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	b.Cleanup(cancel)
	if err := p.Provision(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Cleanup() })
	// As in production: debug logging off (the test context logs at debug).
	p.logger = zap.NewNop()
	if bind {
		for i, id := range benchSessionIDs() {
			p.lease.Table().Bind(id, pool[i%len(pool)].String())
			p.lease.Table().Lookup(id) // in use: in the kept tier, not on trial
		}
		p.lease.Table().CleanUp()
	}
	return p
}

// serialSelect runs one Select per iteration, cycling through ids.
func serialSelect(b *testing.B, sel reverseproxy.Selector, pool reverseproxy.UpstreamPool, br *benchRequest, ids []string) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(br.vars)
		br.setID(ids[i])
		if sel.Select(pool, br.r, nil) == nil {
			b.Fatal("no upstream")
		}
		if i++; i == len(ids) {
			i = 0
		}
	}
}

// parallelSelect is serialSelect on every P, each goroutine with its own request.
func parallelSelect(b *testing.B, sel reverseproxy.Selector, pool reverseproxy.UpstreamPool) {
	ids := benchSessionIDs()
	var seed atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		br := newBenchRequest(b, "x", "")
		i := int(seed.Add(7919)) % len(ids)
		for pb.Next() {
			clear(br.vars)
			br.setID(ids[i])
			if sel.Select(pool, br.r, nil) == nil {
				b.Error("no upstream")
				return
			}
			if i++; i == len(ids) {
				i = 0
			}
		}
	})
}

func BenchmarkSelect(b *testing.B) {
	pool := benchPool()
	ours := provisionBench(b, `{"name":"bench_select","max_sessions":2000000}`, pool, true)
	header := &reverseproxy.HeaderHashSelection{Field: sessionaffinity.DefaultHeader}
	rr := &reverseproxy.RoundRobinSelection{}
	policies := []struct {
		name string
		sel  reverseproxy.Selector
	}{
		{"simple_client_session_hit", ours},
		{"caddy_header", header},
		{"caddy_round_robin", rr},
	}
	for _, pc := range policies {
		b.Run(pc.name+"/serial", func(b *testing.B) {
			serialSelect(b, pc.sel, pool, newBenchRequest(b, "x", ""), benchSessionIDs())
		})
		// The same 1M-session table, but requests name only 10,000 sessions
		// (the end-to-end harness's load): the working set stays in the CPU
		// caches, so this is the policy's CPU cost without memory latency.
		b.Run(pc.name+"/serial_10k_active", func(b *testing.B) {
			serialSelect(b, pc.sel, pool, newBenchRequest(b, "x", ""), benchSessionIDs()[:10_000])
		})
		b.Run(pc.name+"/parallel", func(b *testing.B) {
			parallelSelect(b, pc.sel, pool)
		})
	}
}

// BenchmarkSelectSOAP is a SOAP-keyed request: no header, the id in a 1 KB
// envelope, read from the body on the first attempt.
func BenchmarkSelectSOAP(b *testing.B) {
	pool := benchPool()
	ours := provisionBench(b, `{"name":"bench_select_soap","max_sessions":2000000}`, pool, true)
	ids := benchSessionIDs()
	envelopes := make([]string, 1024)
	for i := range envelopes {
		envelopes[i] = benchEnvelope(ids[i*977%len(ids)], 1<<10)
	}
	br := newBenchRequest(b, "", "")
	br.r.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	body := new(strings.Reader)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(br.vars)
		body.Reset(envelopes[i])
		br.r.Body = nopCloser{body}
		br.r.ContentLength = int64(len(envelopes[i]))
		if ours.Select(pool, br.r, nil) == nil {
			b.Fatal("no upstream")
		}
		if i++; i == len(envelopes) {
			i = 0
		}
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// benchEnvelope is a SOAP 1.1 placeOrder request of about size bytes whose
// ClientID header block names id.
func benchEnvelope(id string, size int) string {
	head := `<?xml version="1.0" encoding="UTF-8"?>` +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">` +
		`<soapenv:Header><syn:ClientID xmlns:syn="http://ws.apache.org/ns/synapse">` + id + `</syn:ClientID></soapenv:Header>` +
		`<soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"><m0:order>`
	tail := `</m0:order></m0:placeOrder></soapenv:Body></soapenv:Envelope>`
	const item = `<m0:price>82.97</m0:price>`
	return head + strings.Repeat(item, max(0, size-len(head)-len(tail))/len(item)) + tail
}

// BenchmarkSelectNewSession is the first request of a new session under each
// placement, the pool and the other 10,000 sessions alike: the cost a
// placement adds to the bind. Each iteration forgets the session it bound, so
// that every one is new and the table stays at 10,000; the forget is counted
// in every placement's figure alike.
func BenchmarkSelectNewSession(b *testing.B) {
	pool := benchPool()
	ids := benchSessionIDs()
	for _, placement := range []sessionaffinity.Placement{sessionaffinity.PlaceFallback, sessionaffinity.PlaceLeastSessions, sessionaffinity.PlaceHash} {
		p := provisionBench(b, fmt.Sprintf(`{"name":"bench_new_%s","placement":%q}`, placement, placement), pool, false)
		for i, id := range ids[:10_000] {
			p.lease.Table().Bind(id, pool[i%len(pool)].String())
		}
		b.Run(string(placement), func(b *testing.B) {
			br := newBenchRequest(b, "x", "")
			b.ReportAllocs()
			i := 10_000
			for b.Loop() {
				clear(br.vars)
				br.setID(ids[i])
				if p.Select(pool, br.r, nil) == nil {
					b.Fatal("no upstream")
				}
				if _, err := p.lease.Table().Forget(ids[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(ids) {
					i = 10_000
				}
			}
		})
	}
}
