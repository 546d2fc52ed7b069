package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// offerLearning tells the learn_sessions writer of this request, if there is
// one, where this attempt went, so that the response that comes back can bind
// the session it hands out. Without one, a session learned from responses is
// never learned: that is logged once.
func (p *SimpleClientSession) offerLearning(r *http.Request, chosen *reverseproxy.Upstream, id string, d sessionaffinity.Decision) {
	lw, ok := caddyhttp.GetVar(r.Context(), learnerVar).(*learningWriter)
	if !ok {
		if p.warnedNoLearner.CompareAndSwap(false, true) {
			p.logger.Warn("session "+string(p.sessionType)+" is learned from responses, but no learn_sessions handler runs before this reverse_proxy: sessions are only bound where their first request was placed",
				zap.String("session", string(p.sessionType)))
		}
		return
	}
	lw.attempt(p, chosen, id, d)
}

// learnFromHeader binds what the header of a response from a.Upstream hands
// out (or forgets what it clears).
func (p *SimpleClientSession) learnFromHeader(h http.Header, a sessionaffinity.Answer) {
	p.router.LearnFromHeader(p.ids, h, a, p.noteLearn)
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
