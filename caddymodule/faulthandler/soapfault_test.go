package faulthandler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// Unit tests of the handler, without a server.

// sfSOAP11Request is a SOAP 1.1 request as the WSO2 sample's client sends it.
const sfSOAP11Request = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><m0:placeOrder xmlns:m0="http://services.samples"/></soapenv:Body></soapenv:Envelope>`

func sfProvision(t *testing.T, h *SOAPFault) *SOAPFault {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Validate(); err != nil {
		t.Fatal(err)
	}
	return h
}

func sfRequest(ctx context.Context) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(sfSOAP11Request))
	r.Header.Set("Content-Type", "text/xml")
	repl := caddy.NewReplacer()
	ctx = context.WithValue(ctx, caddy.ReplacerCtxKey, repl)
	return r.WithContext(ctx)
}

// TestSOAPFaultClientGone: a canceled request gets nothing written and the
// error goes back to Caddy unchanged.
func TestSOAPFaultClientGone(t *testing.T) {
	h := sfProvision(t, &SOAPFault{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	want := caddyhttp.Error(http.StatusBadGateway, errors.New("dial tcp: connection refused"))
	err := h.ServeHTTP(rec, sfRequest(ctx), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return want }))
	if !errors.Is(err, want) && !reflect.DeepEqual(err, want) {
		t.Errorf("error = %v, want the handler's", err)
	}
	if rec.Body.Len() != 0 || rec.Header().Get("Content-Type") != "" {
		t.Errorf("wrote %q to a gone client", rec.Body.String())
	}
}

// TestSOAPFaultAfterWrite: once a response has started, errors pass through.
func TestSOAPFaultAfterWrite(t *testing.T) {
	h := sfProvision(t, &SOAPFault{})
	he := caddyhttp.Error(http.StatusBadGateway, errors.New("reading upstream body"))
	for name, start := range map[string]func(w http.ResponseWriter){
		"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
		"Write":       func(w http.ResponseWriter) { _, _ = w.Write([]byte("partial")) },
		"ReadFrom":    func(w http.ResponseWriter) { _, _ = w.(io.ReaderFrom).ReadFrom(strings.NewReader("partial")) },
		"Flush":       func(w http.ResponseWriter) { _ = http.NewResponseController(w).Flush() },
	} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
				start(w)
				return he
			}))
			if err == nil || strings.Contains(rec.Body.String(), "Fault") {
				t.Errorf("fault written after the response started: err %v, body %q", err, rec.Body.String())
			}
		})
	}
	t.Run("1xx does not count", func(t *testing.T) {
		rec := httptest.NewRecorder()
		err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
			w.WriteHeader(http.StatusEarlyHints)
			return he
		}))
		if err != nil || !strings.Contains(rec.Body.String(), "Fault") {
			t.Errorf("no fault after 103: err %v, body %q", err, rec.Body.String())
		}
	})
	t.Run("wrapped error", func(t *testing.T) {
		rec := httptest.NewRecorder()
		err := h.ServeHTTP(rec, sfRequest(context.Background()), caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return fmt.Errorf("wrapped: %w", caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstreams")))
		}))
		if err != nil || rec.Code != 500 || !strings.Contains(rec.Body.String(), "Fault") {
			t.Errorf("wrapped 503: err %v, %d %q", err, rec.Code, rec.Body.String())
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		rec := httptest.NewRecorder()
		r := sfRequest(context.Background())
		r.Method = http.MethodHead
		err := h.ServeHTTP(rec, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return he }))
		if err != nil || rec.Code != 500 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
			t.Errorf("HEAD: err %v, %d %q", err, rec.Code, rec.Body.String())
		}
	})
}

// BenchmarkSOAPFaultServeHTTP measures answering a failed request, with the
// reason expanded from placeholders through Caddy's replacer.
func BenchmarkSOAPFaultServeHTTP(b *testing.B) {
	for name, reason := range map[string]string{"static": "", "placeholder": "upstream error {http.error.status_code}: {http.error.status_text}"} {
		b.Run(name, func(b *testing.B) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			h := &SOAPFault{Reason: reason}
			if err := h.Provision(ctx); err != nil {
				b.Fatal(err)
			}
			h.logger = zap.NewNop() // measure the handler, not the error log
			he := caddyhttp.Error(http.StatusServiceUnavailable, errors.New("no upstreams available"))
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return he })
			r := sfRequest(context.Background())
			w := &sfDiscard{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				if err := h.ServeHTTP(w, r, next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type sfDiscard struct{ h http.Header }

func (d *sfDiscard) Header() http.Header         { return d.h }
func (d *sfDiscard) Write(b []byte) (int, error) { return len(b), nil }
func (d *sfDiscard) WriteHeader(int)             {}
