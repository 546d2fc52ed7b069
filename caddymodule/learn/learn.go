package learn

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(LearnSessions{})
}

// writerVar is the request variable through which learn_sessions hands its
// response writer to the policy of the reverse_proxy after it: a selection
// policy never sees the response, so the policy tells the writer, for each
// attempt, who learns from the response that comes back (WriterOf,
// Writer.Attempt), and the writer shows that Learner the response. This is
// the one call back from the glue into a policy that Caddy's API forces.
const writerVar = "soap_affinity.learner"

// A Learner learns sessions from the response of an upstream it chose.
type Learner interface {
	// LearnFromHeader learns from the response's header, before it goes
	// out, and returns a peek to read the body for the id it hands out, or
	// nil when the body hands out nothing.
	LearnFromHeader(h http.Header, a sessionaffinity.Answer) *sessionaffinity.ResponsePeek
	// LearnFromBody learns the id that the body handed out ("" for none).
	LearnFromBody(id string, a sessionaffinity.Answer)
}

// LearnSessions lets the simple_client_session policies of the reverse_proxy
// after it learn sessions from the upstreams' responses, as Synapse's http and
// soap session types do: the upstream that hands out a session id (a cookie, a
// response header) holds that session. It has no options and changes nothing
// in the response, which passes on as it streams.
type LearnSessions struct{}

// CaddyModule returns the Caddy module information.
func (LearnSessions) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.learn_sessions",
		New: func() caddy.Module { return new(LearnSessions) },
	}
}

// ServeHTTP runs the next handlers with a writer that shows the response to
// the policy that chose its upstream.
func (LearnSessions) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	lw := &Writer{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	caddyhttp.SetVar(r.Context(), writerVar, lw)
	err := next.ServeHTTP(lw, r)
	if lw.peek != nil {
		lw.learnFromBody(lw.peek.End())
	}
	return err
}

// Writer passes a response on unchanged, and shows its header to the
// Learner of the latest attempt, before the header goes out: by the time the
// client can send the id back, it is bound. For a soap session it also shows
// the Learner the body's first bytes, as they pass, until the SOAP Header has
// been read.
type Writer struct {
	caddyhttp.ResponseWriterWrapper
	// learner chose the upstream of the latest attempt, which answer
	// describes; nil while no learning policy has chosen one.
	learner     Learner
	answer      sessionaffinity.Answer
	wroteHeader bool
	// peek reads the body for the session id it hands out; nil when there
	// is nothing (more) to read.
	peek *sessionaffinity.ResponsePeek
}

// WriterOf returns the learn_sessions writer of the request, or nil when no
// learn_sessions handler runs before the reverse_proxy.
func WriterOf(r *http.Request) *Writer {
	w, _ := caddyhttp.GetVar(r.Context(), writerVar).(*Writer)
	return w
}

// Attempt records one attempt of the request: l (nil: none, as when no
// upstream was chosen) learns from its response, which a describes. A policy
// calls it for every attempt; the response comes from the last one.
func (w *Writer) Attempt(l Learner, a sessionaffinity.Answer) {
	w.learner, w.answer = l, a
}

// WriteHeader learns from the final header, then sends it. 1xx informational
// headers (such as 103 Early Hints) pass without being learned from.
func (w *Writer) WriteHeader(status int) {
	if !w.wroteHeader && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.wroteHeader = true
		if w.learner != nil {
			w.peek = w.learner.LearnFromHeader(w.Header(), w.answer)
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends body bytes; a body without a WriteHeader before it is a 200.
// A body being read for its session id is shown to the peek before it goes
// out.
func (w *Writer) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.peek != nil {
		if id, done := w.peek.Write(b); done {
			w.learnFromBody(id)
		}
	}
	return w.ResponseWriter.Write(b)
}

// learnFromBody ends the peek, with the id it found ("" for none).
func (w *Writer) learnFromBody(id string) {
	w.peek = nil
	w.learner.LearnFromBody(id, w.answer)
}

// ReadFrom overrides the wrapper's, which would send the header without
// WriteHeader, and the body past the peek.
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.peek != nil {
		return io.Copy(writerOnly{w}, r)
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}

// writerOnly hides ReadFrom, so that io.Copy calls Write.
type writerOnly struct{ io.Writer }

// FlushError overrides the wrapper's, which would send the header without
// WriteHeader; http.ResponseController finds it before unwrapping.
func (w *Writer) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = LearnSessions{}
	_ io.ReaderFrom               = (*Writer)(nil)
)
