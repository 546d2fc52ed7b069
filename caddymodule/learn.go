package caddymodule

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(LearnSessions{})
}

// learnerVar is the request variable through which learn_sessions hands its
// response writer to the policy of the reverse_proxy after it: a selection
// policy never sees the response, so the policy tells the writer which
// upstream each attempt went to, and the writer, seeing the response, tells
// the policy what it says.
const learnerVar = "soap_affinity.learner"

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
	lw := &learningWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	caddyhttp.SetVar(r.Context(), learnerVar, lw)
	err := next.ServeHTTP(lw, r)
	if lw.peek != nil {
		lw.learnFromBody(lw.peek.End())
	}
	return err
}

// learningWriter passes a response on unchanged, and shows its header to the
// policy that chose the upstream of the latest attempt, before the header goes
// out: by the time the client can send the id back, it is bound. For a soap
// session it also shows the policy the body's first bytes, as they pass,
// until the SOAP Header has been read.
type learningWriter struct {
	caddyhttp.ResponseWriterWrapper
	// policy chose the upstream of the latest attempt, which answer
	// describes; nil while no learning policy has chosen one.
	policy      *SimpleClientSession
	answer      sessionaffinity.Answer
	wroteHeader bool
	// peek reads the body for the session id it hands out; nil when there
	// is nothing (more) to read.
	peek *sessionaffinity.ResponsePeek
}

// attempt records one attempt of the request: the policy chose upstream
// (nil: none) for the session id (""; none) with decision d. Select calls it
// for every attempt; the response comes from the last one.
func (w *learningWriter) attempt(p *SimpleClientSession, upstream *reverseproxy.Upstream, id string, d sessionaffinity.Decision) {
	if upstream == nil {
		w.policy = nil
		return
	}
	w.policy = p
	w.answer = sessionaffinity.Answer{Upstream: upstream.String(), Session: id, SessionThere: routedBySession(d.Outcome)}
}

// routedBySession reports whether an attempt went to the upstream the
// session is bound to after it.
func routedBySession(o sessionaffinity.Outcome) bool {
	switch o {
	case sessionaffinity.Followed, sessionaffinity.Bound, sessionaffinity.JoinedBind,
		sessionaffinity.Rebound, sessionaffinity.JoinedRebind:
		return true
	}
	return false
}

// WriteHeader learns from the final header, then sends it. 1xx informational
// headers (such as 103 Early Hints) pass without being learned from.
func (w *learningWriter) WriteHeader(status int) {
	if !w.wroteHeader && (status >= 200 || status == http.StatusSwitchingProtocols) {
		w.wroteHeader = true
		if w.policy != nil {
			w.policy.learnFromHeader(w.Header(), w.answer)
			w.peek = w.policy.ids.PeekResponse(w.Header())
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write sends body bytes; a body without a WriteHeader before it is a 200.
// A body being read for its session id is shown to the peek before it goes
// out.
func (w *learningWriter) Write(b []byte) (int, error) {
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
func (w *learningWriter) learnFromBody(id string) {
	w.peek = nil
	w.policy.router.LearnID(id, w.answer, w.policy.noteLearn)
}

// ReadFrom overrides the wrapper's, which would send the header without
// WriteHeader, and the body past the peek.
func (w *learningWriter) ReadFrom(r io.Reader) (int64, error) {
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
func (w *learningWriter) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = LearnSessions{}
	_ io.ReaderFrom               = (*learningWriter)(nil)
)
