package admin

import (
	"net"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
)

// upstreamList is the answer of GET .../upstreams.
type upstreamList struct {
	Upstreams []state.UpstreamInfo `json:"upstreams"`
}

func (a *AdminAPI) listUpstreams(w http.ResponseWriter, r *http.Request) error {
	if err := noArguments(r); err != nil {
		return err
	}
	p, err := policyOf(r)
	if err != nil {
		return err
	}
	list := p.Upstreams()
	if list == nil {
		list = []state.UpstreamInfo{}
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
	name, i, err := instanceOf(r)
	if err != nil {
		return err
	}
	u := i.ConfiguredUpstream(upstream)
	if u == nil {
		keys, _ := i.ConfiguredUpstreams()
		return apiError(http.StatusNotFound, "policy %s has no upstream %q (it has: %s)", name, upstream, strings.Join(keys, ", "))
	}
	changed, err := i.Drains.Set(upstream, on)
	if changed {
		msg := "upstream drain started"
		if !on {
			msg = "upstream drain ended"
		}
		a.logger.Info(msg, zap.String("policy", name), zap.String("upstream", upstream))
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "policy %s: %v", name, err)
	}
	return writeJSON(w, i.UpstreamInfo(u))
}
