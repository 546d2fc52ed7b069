package admin

import (
	"net"
	"net/http"
	"strings"
	"time"

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

// maxDrainDeadline bounds a drain's deadline: a longer one is more likely a
// typo (10000m for 10m) than a plan.
const maxDrainDeadline = 30 * 24 * time.Hour

func (a *AdminAPI) drain(w http.ResponseWriter, r *http.Request, on bool) error {
	allowed := []string{"upstream"}
	if on {
		allowed = append(allowed, "deadline")
	}
	params, err := parseQuery(r.URL.RawQuery, allowed...)
	if err != nil {
		return err
	}
	var deadline time.Time
	if v, given := params["deadline"]; given {
		d, err := parseDrainDeadline(v)
		if err != nil {
			return err
		}
		// Whole milliseconds, as Redis keeps it, so that every node reads
		// the same time this one answers.
		deadline = time.UnixMilli(time.Now().Add(d).UnixMilli()).UTC()
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
	wasDraining := i.Drains.Draining(upstream)
	changed, err := i.Drains.Set(upstream, on, deadline)
	if changed {
		msg := "upstream drain started"
		switch {
		case !on:
			msg = "upstream drain ended"
		case wasDraining:
			msg = "upstream drain deadline set"
		}
		fields := []zap.Field{zap.String("policy", name), zap.String("upstream", upstream)}
		if !deadline.IsZero() {
			fields = append(fields, zap.Time("deadline", deadline))
		}
		a.logger.Info(msg, fields...)
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "policy %s: %v", name, err)
	}
	return writeJSON(w, i.UpstreamInfo(u))
}

// parseDrainDeadline reads a drain's ?deadline=: a Go duration from now,
// above 0 and at most maxDrainDeadline.
func parseDrainDeadline(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, apiError(http.StatusBadRequest, "malformed deadline %q: want a duration such as 10m or 1h30m", v)
	case d <= 0:
		return 0, apiError(http.StatusBadRequest, "deadline %q: want a duration above 0, such as 10m", v)
	case d > maxDrainDeadline:
		return 0, apiError(http.StatusBadRequest, "deadline %q: at most %s", v, maxDrainDeadline)
	}
	return d, nil
}
