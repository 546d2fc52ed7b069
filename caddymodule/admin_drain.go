package caddymodule

import (
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"
)

// upstreamList is the answer of GET .../upstreams.
type upstreamList struct {
	Upstreams []upstreamInfo `json:"upstreams"`
}

func (a *AdminAPI) listUpstreams(w http.ResponseWriter, r *http.Request) error {
	if err := noArguments(r); err != nil {
		return err
	}
	s, err := stateOf(r)
	if err != nil {
		return err
	}
	list := s.upstreams()
	if list == nil {
		list = []upstreamInfo{}
	}
	return writeJSON(w, upstreamList{Upstreams: list})
}

// startDrain (POST) and endDrain (DELETE) set the drain of the upstream named
// by ?upstream=; both answer the upstream as GET .../upstreams lists it, and
// are idempotent.
func (a *AdminAPI) startDrain(w http.ResponseWriter, r *http.Request) error {
	return a.drain(w, r, true)
}
func (a *AdminAPI) endDrain(w http.ResponseWriter, r *http.Request) error {
	return a.drain(w, r, false)
}

func (a *AdminAPI) drain(w http.ResponseWriter, r *http.Request, on bool) error {
	params, err := parseQuery(r.URL.RawQuery, "upstream")
	if err != nil {
		return err
	}
	if err := requireNoBody(r); err != nil {
		return err
	}
	upstream, named := params["upstream"]
	if !named {
		return apiError(http.StatusBadRequest, "missing parameter upstream: name it, ?upstream=host:port")
	}
	if host, port, err := net.SplitHostPort(upstream); err != nil || host == "" || port == "" {
		return apiError(http.StatusBadRequest, "malformed upstream %q: want host:port, as in the config", upstream)
	}
	s, err := stateOf(r)
	if err != nil {
		return err
	}
	p := s.newest()
	if p == nil {
		return apiError(http.StatusNotFound, "no simple_client_session policy named %q", s.name)
	}
	u := p.configuredUpstream(upstream)
	if u == nil {
		keys, _ := p.configuredUpstreams()
		return apiError(http.StatusNotFound, "policy %s has no upstream %q (it has: %s)", s.name, upstream, strings.Join(keys, ", "))
	}
	changed, err := p.drains.Set(upstream, on)
	if changed {
		msg := "upstream drain started"
		if !on {
			msg = "upstream drain ended"
		}
		a.logger.Info(msg, zap.String("policy", s.name), zap.String("upstream", upstream))
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "policy %s: %v", s.name, err)
	}
	return writeJSON(w, p.upstreamInfo(u))
}

// stateOf returns the state of the policy named in the request's path.
func stateOf(r *http.Request) (*policyState, error) {
	name := r.PathValue("name")
	if s, ok := liveStates()[name]; ok {
		return s, nil
	}
	return nil, apiError(http.StatusNotFound, "no simple_client_session policy named %q", name)
}
