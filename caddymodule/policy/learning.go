package policy

import (
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/learn"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// learner learns a policy's sessions from the responses of the upstreams it
// chose (session http and soap), for the learn_sessions handler's writer.
type learner struct {
	router *sessionaffinity.Router
	ids    *sessionaffinity.IDSource
	// note is noteLearned, bound once so that learning does not allocate a
	// method value per response.
	note func(id string, o sessionaffinity.LearnOutcome, err error)
	// warnedNoWriter: the missing learn_sessions has been logged.
	warnedNoWriter atomic.Bool
}

// LearnFromHeader binds what the header of a response from a.Upstream hands
// out (or forgets what it clears).
func (l *learner) LearnFromHeader(h http.Header, a sessionaffinity.Answer) *sessionaffinity.ResponsePeek {
	l.router.LearnFromHeader(l.ids, h, a, l.note)
	return l.ids.PeekResponse(h)
}

// LearnFromBody binds the id a response body handed out.
func (l *learner) LearnFromBody(id string, a sessionaffinity.Answer) {
	l.router.LearnID(id, a, l.note)
}

// offerLearning tells the learn_sessions writer of this request, if there is
// one, where this attempt went, so that the response that comes back can bind
// the session it hands out. Without one, a session learned from responses is
// never learned: that is logged once.
func (p *SimpleClientSession) offerLearning(r *http.Request, chosen *reverseproxy.Upstream, id string, d sessionaffinity.Decision) {
	w := learn.WriterOf(r)
	if w == nil {
		if p.learner.warnedNoWriter.CompareAndSwap(false, true) {
			p.logger.Warn("session "+string(p.sessionType)+" is learned from responses, but no learn_sessions handler runs before this reverse_proxy: sessions are only bound where their first request was placed",
				zap.String("session", string(p.sessionType)))
		}
		return
	}
	if chosen == nil {
		w.Attempt(nil, sessionaffinity.Answer{})
		return
	}
	w.Attempt(p.learner, sessionaffinity.Answer{Upstream: chosen.String(), Session: id, SessionThere: routedBySession(d.Outcome)})
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

// noteLearned counts and logs what a response did to a session.
func (p *SimpleClientSession) noteLearned(id string, o sessionaffinity.LearnOutcome, err error) {
	p.metrics.learned(o)
	if err != nil {
		p.logger.Warn("forgetting a session the upstream ended", zap.Error(err))
	}
	if ce := p.logger.Check(zap.DebugLevel, "session learned from response"); ce != nil {
		ce.Write(sessionFields(p.LogSessionIDs, id, zap.Stringer("outcome", o))...)
	}
}

var _ learn.Learner = (*learner)(nil)
