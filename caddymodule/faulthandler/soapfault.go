package faulthandler

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/internal/metricsreg"
	"github.com/soap-affinity/caddy-soap-affinity/soapfault"
)

func init() {
	caddy.RegisterModule(SOAPFault{})
}

// faults counts the faults written, by the status of the error they answer.
// Package-level, so that counts continue across config reloads.
var faults = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "caddy_soap_affinity_faults_total",
	Help: "SOAP faults written by soap_fault instead of an error response, by the HTTP status of the handler error that triggered them.",
}, []string{"status"})

// Defaults of the soap_fault handler, as in Synapse's load-balancing sample.
const (
	// defaultStatus is the HTTP status of the fault, as Synapse sends.
	defaultStatus = http.StatusInternalServerError
)

// defaultOn lists the handler error statuses answered with a fault:
// every upstream refused or failed (502), none available (503), timed out (504).
var defaultOn = []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout}

// SOAPFault answers with a SOAP fault, as Apache Synapse's makefault mediator
// does, when the handlers after it fail (typically reverse_proxy when every
// upstream is down, refuses connections or times out) before writing
// anything. Responses that an upstream sent, faults and errors included, pass
// through untouched.
//
// Inside handle_errors it writes the fault for the error being handled, if its
// status is one of On.
type SOAPFault struct {
	// Version of the fault: soap11 (default), soap12, pox, or auto to answer
	// in the request's version (Content-Type application/soap+xml: SOAP 1.2;
	// text/xml: SOAP 1.1; anything else: POX).
	Version string `json:"version,omitempty"`

	// Code is the fault code, "prefix:Local" or "Local"; the prefix is bound to
	// the envelope namespace of the fault. Default: soap11Env:VersionMismatch
	// (soap12Env:VersionMismatch in SOAP 1.2). With auto, Client/Sender and
	// Server/Receiver are mapped to the request's version, and the prefixes
	// soap11Env/soap12Env follow it.
	Code string `json:"code,omitempty"`

	// Reason is the fault string (SOAP 1.1 faultstring, SOAP 1.2 Reason/Text,
	// POX Exception text). Placeholders are expanded per request and the
	// result is escaped as XML text. Default: COULDN'T SEND THE MESSAGE TO THE
	// SERVER.
	Reason string `json:"reason,omitempty"`

	// Role is the URI of the SOAP 1.1 faultactor / SOAP 1.2 Role (optional;
	// Caddyfile: actor or role).
	Role string `json:"role,omitempty"`

	// Node is the URI of the SOAP 1.2 Node (optional; soap12 and auto only).
	Node string `json:"node,omitempty"`

	// Detail is an XML fragment (starting with '<', checked for
	// well-formedness when the config loads) or plain text, sent as the
	// fault's detail. A POX fault carries the detail instead of the reason.
	Detail string `json:"detail,omitempty"`

	// StatusCode is the HTTP status of the fault response. Default: 500.
	StatusCode int `json:"status_code,omitempty"`

	// On lists the handler error statuses that are answered with a fault.
	// Default: [502, 503, 504].
	On []int `json:"on,omitempty"`

	fault          *soapfault.Compiled
	on             map[int]struct{}
	expandReason   bool
	reason         string
	logger         *zap.Logger
	faultsByStatus map[int]prometheus.Counter
}

// CaddyModule returns the Caddy module information.
func (SOAPFault) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.soap_fault",
		New: func() caddy.Module { return new(SOAPFault) },
	}
}

// Provision applies the defaults, compiles the fault and registers the metrics.
func (h *SOAPFault) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.StatusCode == 0 {
		h.StatusCode = defaultStatus
	}
	if len(h.On) == 0 {
		h.On = slices.Clone(defaultOn)
	}
	h.reason = h.Reason
	if h.reason == "" {
		h.reason = soapfault.DefaultReason
	}
	h.expandReason = strings.ContainsRune(h.reason, '{')

	f, err := h.faultConfig()
	if err != nil {
		return err
	}
	if h.fault, err = soapfault.Compile(f); err != nil {
		return fmt.Errorf("soap_fault: %w", err)
	}

	h.on = make(map[int]struct{}, len(h.On))
	for _, s := range h.On {
		h.on[s] = struct{}{}
	}

	if err := metricsreg.Register(ctx.GetMetricsRegistry(), faults); err != nil {
		return fmt.Errorf("soap_fault: %w", err)
	}
	// Resolved once, so that counting a fault does not allocate.
	h.faultsByStatus = make(map[int]prometheus.Counter, len(h.On))
	for _, s := range h.On {
		h.faultsByStatus[s] = faults.WithLabelValues(strconv.Itoa(s))
	}
	return nil
}

// faultConfig translates the JSON configuration into a soapfault.Fault.
func (h *SOAPFault) faultConfig() (soapfault.Fault, error) {
	f := soapfault.Fault{Version: soapfault.VersionSOAP11, Reason: h.reason, Role: h.Role, Node: h.Node, Detail: h.Detail}
	if h.Version != "" {
		v, err := soapfault.ParseVersion(h.Version)
		if err != nil {
			return f, fmt.Errorf("soap_fault: %w", err)
		}
		f.Version = v
	}
	if h.Code != "" {
		c, err := soapfault.ParseCode(h.Code)
		if err != nil {
			return f, fmt.Errorf("soap_fault: %w", err)
		}
		f.Code = c
	}
	return f, nil
}

// Validate checks the statuses; the fault itself was validated by Provision.
func (h *SOAPFault) Validate() error {
	if h.StatusCode < 200 || h.StatusCode > 599 {
		return fmt.Errorf("soap_fault: status_code %d out of range 200-599", h.StatusCode)
	}
	for _, s := range h.On {
		if s < 400 || s > 599 {
			return fmt.Errorf("soap_fault: on: status %d is not an error status (400-599)", s)
		}
	}
	if h.fault == nil {
		return errors.New("soap_fault: not provisioned")
	}
	return nil
}

// ServeHTTP runs the next handlers and answers with a SOAP fault if they fail
// with one of the configured statuses before writing anything. Inside
// handle_errors (the request carries the error being handled) it answers
// directly.
func (h *SOAPFault) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if handled, ok := r.Context().Value(caddyhttp.ErrorCtxKey).(error); ok {
		if he, ok := h.matches(handled); ok && r.Context().Err() == nil {
			return h.writeFault(w, r, he)
		}
		return next.ServeHTTP(w, r)
	}

	tw := &faultWriteTracker{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	err := next.ServeHTTP(tw, r)
	if err == nil || tw.wrote {
		return err
	}
	he, ok := h.matches(err)
	if !ok {
		return err
	}
	if r.Context().Err() != nil {
		// The client is gone: nobody to tell.
		return err
	}
	if c := h.logger.Check(zapcore.ErrorLevel, "answering handler error with a SOAP fault"); c != nil {
		c.Write(zap.Int("error_status", he.StatusCode), zap.String("error_id", he.ID), zap.Error(err))
	}
	if _, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok && h.expandReason {
		// Make {http.error.*} available to the reason, as in handle_errors.
		r = (*caddyhttp.HTTPErrorConfig)(nil).WithError(r, he)
	}
	return h.writeFault(w, r, he)
}

// matches reports whether err is a handler error with one of the On statuses.
func (h *SOAPFault) matches(err error) (caddyhttp.HandlerError, bool) {
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) {
		return he, false
	}
	_, ok := h.on[he.StatusCode]
	return he, ok
}

// writeFault writes the fault response for the handler error he.
func (h *SOAPFault) writeFault(w http.ResponseWriter, r *http.Request, he caddyhttp.HandlerError) error {
	tmpl := h.fault.Template(r.Header.Get("Content-Type"))
	reason := h.reason
	if h.expandReason && tmpl.UsesReason() {
		if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
			reason = repl.ReplaceKnown(reason, "")
		}
	}
	body := tmpl.Append(make([]byte, 0, 512), reason)

	hdr := w.Header()
	hdr.Set("Content-Type", tmpl.ContentType())
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	hdr.Del("Content-Encoding")
	w.WriteHeader(h.StatusCode)
	if c, ok := h.faultsByStatus[he.StatusCode]; ok {
		c.Inc()
	}
	if r.Method == http.MethodHead {
		return nil
	}
	if _, err := w.Write(body); err != nil {
		// Headers are out; all that is left is to tell the logs.
		if c := h.logger.Check(zapcore.DebugLevel, "writing SOAP fault"); c != nil {
			c.Write(zap.Error(err))
		}
	}
	return nil
}

// faultWriteTracker records whether the wrapped handlers have started a
// response (a final status or body bytes), after which no fault may be sent.
type faultWriteTracker struct {
	caddyhttp.ResponseWriterWrapper
	wrote bool
}

// WriteHeader records final statuses; 1xx informational ones (except 101)
// still leave room for the fault.
func (w *faultWriteTracker) WriteHeader(status int) {
	if status >= 200 || status == http.StatusSwitchingProtocols {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *faultWriteTracker) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// ReadFrom overrides the wrapper's, which would bypass Write.
func (w *faultWriteTracker) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// FlushError marks the response started (flushing sends the headers) and
// flushes; http.ResponseController finds it before unwrapping.
func (w *faultWriteTracker) FlushError() error {
	w.wrote = true
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*SOAPFault)(nil)
	_ caddy.Validator             = (*SOAPFault)(nil)
	_ caddyhttp.MiddlewareHandler = (*SOAPFault)(nil)
)
