package sessionaffinity

import (
	"net/http"
	"time"
)

// Synapse's http and soap session types are learned from responses: the
// upstream that hands a session id out holds the session, and later requests
// naming it go there.

// LearnOutcome is what a response did to one session.
type LearnOutcome uint8

const (
	// Learned: the session is bound to the upstream that answered (it was
	// new, bound there already, or moved there by a concurrent change).
	Learned LearnOutcome = iota
	// Relearned: the session moved from another upstream to the one that
	// answered, which issued it anew (after a failover, or a login).
	Relearned
	// LostRelearn: a concurrent change moved the session elsewhere while it
	// was being relearned; that change stands.
	LostRelearn
	// Forgotten: the upstream cleared the session (a cookie deleted); the
	// next request naming it is placed as a new session.
	Forgotten
)

var learnOutcomeNames = [...]string{"learned", "relearned", "lost_relearn", "forgotten"}

func (o LearnOutcome) String() string { return nameOf(learnOutcomeNames[:], o) }

// Answer is one upstream response, as learning needs to know it besides its
// header.
type Answer struct {
	// Upstream is the key of the upstream that answered.
	Upstream string
	// Session is the id the request named, "" for none.
	Session string
	// SessionThere says the request went to Upstream because Session is bound
	// there, so a response naming Session again changes nothing.
	SessionThere bool
}

// learn binds id to upstream, which has just handed it out, moving it there
// from any other upstream: the upstream that issues a session holds it.
func (r *Router) learn(id, upstream string) LearnOutcome {
	bound, _ := r.store.Bind(id, upstream)
	if bound == upstream {
		return Learned
	}
	switch now, moved := r.store.Rebind(id, bound, upstream); {
	case moved:
		return Relearned
	case now == upstream:
		return Learned // a concurrent change moved it there first
	}
	return LostRelearn
}

// forget deletes a session the upstream has ended. An error means a shared
// store may still hold it.
func (r *Router) forget(id string) error {
	_, err := r.store.Forget(id)
	return err
}

// LearnFromHeader applies what a response header says, as ids reads it: each
// session id handed out is bound to the upstream that answered; a cleared
// session cookie forgets the session the request named. note, if not nil, is
// told of each change, and of each failure to forget in a shared store.
func (r *Router) LearnFromHeader(ids *IDSource, h http.Header, a Answer, note func(id string, o LearnOutcome, err error)) {
	ids.fromResponse(h, time.Now(), func(id string, cleared bool) {
		switch {
		case cleared:
			if a.Session == "" {
				return
			}
			err := r.forget(a.Session)
			if note != nil {
				note(a.Session, Forgotten, err)
			}
		default:
			r.LearnID(id, a, note)
		}
	})
}

// LearnID binds id, which the response a describes handed out, to the
// upstream that answered, and tells note (if not nil) what changed.
func (r *Router) LearnID(id string, a Answer, note func(id string, o LearnOutcome, err error)) {
	if id == "" || (id == a.Session && a.SessionThere) {
		// Bound there already: the common case of a server that hands the
		// same id out again on every response costs nothing.
		return
	}
	o := r.learn(id, a.Upstream)
	if note != nil {
		note(id, o, nil)
	}
}
