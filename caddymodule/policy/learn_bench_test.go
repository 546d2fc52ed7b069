package policy

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/learn"
)

// The response-path benchmarks run, in one run, a request through a stand-in
// for reverse_proxy (Select, then the upstream's response written to the
// client) with and without learn_sessions in front, for a session http whose
// client sends the cookie that the response sets again (the common case), a
// response that issues a new cookie, and response bodies of 1 KB and 10 MB.

// discardWriter is a client connection that takes any response and keeps
// nothing but the header map, reused across iterations.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// fakeProxy selects an upstream as reverse_proxy does and writes the
// response the upstream gave: the Set-Cookie lines setCookie gives and body, in 32 KiB
// writes as reverse_proxy copies.
func fakeProxy(p *SimpleClientSession, pool reverseproxy.UpstreamPool, setCookie func() []string, body []byte) caddyhttp.Handler {
	return caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if p.Select(pool, r, w) == nil {
			return caddyhttp.Error(http.StatusBadGateway, nil)
		}
		h := w.Header()
		h.Set("Content-Type", "text/plain")
		h["Set-Cookie"] = setCookie()
		w.WriteHeader(http.StatusOK)
		for rest := body; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			_, _ = w.Write(rest[:n])
			rest = rest[n:]
		}
		return nil
	})
}

func BenchmarkResponsePath(b *testing.B) {
	pool := benchPool()
	p := provisionBench(b, `{"name":"bench_learn","session":"http","max_sessions":2000000}`, pool, false)
	// 10,000 clients, each with its session bound (the end-to-end harness's
	// load); a response issuing new cookies adds sessions beyond them.
	ids := benchSessionIDs()[:10_000]
	setCookies := make([][]string, len(ids))
	requestCookies := make([][]string, len(ids))
	for i, id := range ids {
		p.lease.Table().Bind(id, pool[i%len(pool)].String())
		setCookies[i] = []string{"JSESSIONID=" + id + "; Path=/; HttpOnly"}
		requestCookies[i] = []string{"JSESSIONID=" + id}
	}
	newCookies := benchSessionIDs()[10_000:]
	var learnSessions learn.LearnSessions
	for _, size := range []struct {
		name string
		n    int
	}{{"1KB", 1 << 10}, {"10MB", 10 << 20}} {
		body := bytes.Repeat([]byte("0123456789abcdef"), size.n/16)
		for _, tc := range []struct {
			name  string
			learn bool
			// newCookie: the response issues a cookie the table does not
			// know yet; else it sets the request's cookie again.
			newCookie bool
		}{
			{"without_learn_sessions", false, false},
			{"learn_sessions_same_cookie", true, false},
			{"learn_sessions_new_cookie", true, true},
		} {
			b.Run(size.name+"/"+tc.name, func(b *testing.B) {
				br := newBenchRequest(b, "", "")
				w := &discardWriter{h: http.Header{}}
				i := 0
				n := 0
				setCookie := func() []string {
					if tc.newCookie {
						n++
						return []string{"JSESSIONID=" + newCookies[n%len(newCookies)] + "; Path=/"}
					}
					return setCookies[i]
				}
				next := fakeProxy(p, pool, setCookie, body)
				b.SetBytes(int64(size.n))
				b.ReportAllocs()
				for b.Loop() {
					clear(br.vars)
					clear(w.h)
					br.r.Header["Cookie"] = requestCookies[i]
					var err error
					if tc.learn {
						err = learnSessions.ServeHTTP(w, br.r, next)
					} else {
						err = next.ServeHTTP(w, br.r)
					}
					if err != nil {
						b.Fatal(err)
					}
					if i++; i == len(ids) {
						i = 0
					}
				}
			})
		}
	}
}
