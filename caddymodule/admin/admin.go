package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// Paging of session listings.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// AdminAPI serves the session tables on Caddy's admin endpoint:
//
//	GET    /soap-affinity/policies                          every policy: name, sessions, settings
//	GET    /soap-affinity/policies/{name}/sessions          sessions in table order (?limit= ?cursor= ?upstream=)
//	DELETE /soap-affinity/policies/{name}/sessions          all sessions, or those of ?upstream= (drain)
//	POST   /soap-affinity/policies/{name}/sessions/lookup   one session, named by {"id": "..."}
//	POST   /soap-affinity/policies/{name}/sessions/forget   forget one session, named by {"id": "..."}
//	GET    /soap-affinity/policies/{name}/upstreams         upstreams: sessions, draining, drained, deadline, available
//	POST   /soap-affinity/policies/{name}/drain             start draining ?upstream= (until ?deadline=, a duration)
//	DELETE /soap-affinity/policies/{name}/drain             end the drain of ?upstream=
//
// Names are path segments: percent-encode them. Session ids travel only in
// bodies: Caddy logs the URI of every admin request (see request.go).
type AdminAPI struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.soap_affinity",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// Provision sets up the module's logger.
func (a *AdminAPI) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger(a)
	return nil
}

const adminPrefix = "/soap-affinity/"

// Routes returns the admin routes.
func (a *AdminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: adminPrefix + "policies", Handler: methods{http.MethodGet: a.listPolicies}},
		{Pattern: adminPrefix + "policies/{name}/sessions", Handler: methods{
			http.MethodGet: a.listSessions, http.MethodDelete: a.deleteSessions}},
		{Pattern: adminPrefix + "policies/{name}/upstreams", Handler: methods{http.MethodGet: a.listUpstreams}},
		{Pattern: adminPrefix + "policies/{name}/drain", Handler: methods{
			http.MethodPost: a.startDrain, http.MethodDelete: a.endDrain}},
		{Pattern: adminPrefix + "policies/{name}/sessions/lookup", Handler: methods{http.MethodPost: a.getSession}},
		{Pattern: adminPrefix + "policies/{name}/sessions/forget", Handler: methods{http.MethodPost: a.deleteSession}},
		// The old form put the id in the URL, which Caddy has logged by now.
		{Pattern: adminPrefix + "policies/{name}/sessions/{id}", Handler: caddy.AdminHandlerFunc(func(http.ResponseWriter, *http.Request) error {
			return apiError(http.StatusGone, `session ids no longer go in the URL (Caddy logs it): POST {"id": "..."} to .../sessions/lookup or .../sessions/forget`)
		})},
		// Anything else under the prefix: a JSON 404 rather than the mux's text.
		{Pattern: adminPrefix, Handler: caddy.AdminHandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			return apiError(http.StatusNotFound, "no such resource: %s", r.URL.Path)
		})},
	}
}

// methods dispatches an admin route by HTTP method, answering others with 405.
type methods map[string]caddy.AdminHandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if h, ok := m[r.Method]; ok {
		return h(w, r)
	}
	allowed := make([]string, 0, len(m))
	for method := range m {
		allowed = append(allowed, method)
	}
	slices.Sort(allowed)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return apiError(http.StatusMethodNotAllowed, "method %s not allowed (allowed: %s)", r.Method, strings.Join(allowed, ", "))
}

func apiError(status int, format string, args ...any) error {
	return caddy.APIError{HTTPStatus: status, Err: fmt.Errorf(format, args...)}
}

// PolicyInfo describes one policy's table, as GET .../policies lists it.
type PolicyInfo struct {
	Name        string `json:"name"`
	Sessions    int    `json:"sessions"`
	Timeout     string `json:"timeout"`
	Expiry      string `json:"expiry"`
	MaxSessions int    `json:"max_sessions"`
}

func (a *AdminAPI) listPolicies(w http.ResponseWriter, r *http.Request) error {
	if err := noArguments(r); err != nil {
		return err
	}
	policies := state.Policies()
	list := make([]PolicyInfo, 0, len(policies))
	for _, p := range policies {
		i := p.Newest()
		if i == nil {
			continue
		}
		cfg := i.Table.Config()
		list = append(list, PolicyInfo{Name: p.Name(), Sessions: i.Table.Len(), Timeout: cfg.Timeout.String(),
			Expiry: string(cfg.Expiry), MaxSessions: cfg.MaxSessions})
	}
	slices.SortFunc(list, func(x, y PolicyInfo) int { return strings.Compare(x.Name, y.Name) })
	return writeJSON(w, map[string]any{"policies": list})
}

// sessionPage is one page of a listing; NextCursor, if set, fetches the next.
type sessionPage struct {
	Sessions   []sessionaffinity.SessionInfo `json:"sessions"`
	NextCursor string                        `json:"next_cursor,omitempty"`
}

func (a *AdminAPI) listSessions(w http.ResponseWriter, r *http.Request) error {
	q, err := listQuery(r)
	if err != nil {
		return err
	}
	if err := requireNoBody(r); err != nil {
		return err
	}
	name, i, err := instanceOf(r)
	if err != nil {
		return err
	}
	page, next, err := i.Table.Page(q)
	if err != nil {
		// A cursor this process sealed for a table since replaced by a reload.
		return apiError(http.StatusBadRequest, "cursor no longer fits policy %s's table: start again without one", name)
	}
	out := sessionPage{Sessions: page}
	if next != "" {
		out.NextCursor = sealCursor(next)
	}
	return writeJSON(w, out)
}

// sessionOf parses a call naming one session in its body and returns the
// policy's name, its newest instance and the id.
func sessionOf(r *http.Request) (string, *state.Instance, string, error) {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return "", nil, "", err
	}
	id, err := parseIDBody(r)
	if err != nil {
		return "", nil, "", err
	}
	name, i, err := instanceOf(r)
	return name, i, id, err
}

func (a *AdminAPI) getSession(w http.ResponseWriter, r *http.Request) error {
	name, i, id, err := sessionOf(r)
	if err != nil {
		return err
	}
	si, ok := i.Table.Get(id)
	if !ok {
		return apiError(http.StatusNotFound, "policy %s has no such session", name)
	}
	return writeJSON(w, si)
}

// deleted is the answer to a delete: how many sessions went.
type deleted struct {
	Deleted int `json:"deleted"`
}

func (a *AdminAPI) deleteSession(w http.ResponseWriter, r *http.Request) error {
	name, i, id, err := sessionOf(r)
	if err != nil {
		return err
	}
	found, err := i.Store.Forget(id)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "policy %s: %v", name, err)
	}
	if !found {
		return apiError(http.StatusNotFound, "policy %s has no such session", name)
	}
	fields := []zap.Field{zap.String("policy", name)}
	if i.LogSessionIDs {
		fields = append(fields, zap.String("session_id", id))
	}
	a.logger.Info("session deleted", fields...)
	return writeJSON(w, deleted{1})
}

func (a *AdminAPI) deleteSessions(w http.ResponseWriter, r *http.Request) error {
	params, err := parseQuery(r.URL.RawQuery, "upstream")
	if err != nil {
		return err
	}
	if err := requireNoBody(r); err != nil {
		return err
	}
	name, i, err := instanceOf(r)
	if err != nil {
		return err
	}
	var n int
	if upstream, filtered := params["upstream"]; filtered {
		if n, err = i.Store.ForgetUpstream(upstream); err != nil {
			return apiError(http.StatusServiceUnavailable, "policy %s: %v", name, err)
		}
		a.logger.Info("upstream drained of sessions", zap.String("policy", name),
			zap.String("upstream", upstream), zap.Int("deleted", n))
	} else {
		if n, err = i.Store.ForgetAll(); err != nil {
			return apiError(http.StatusServiceUnavailable, "policy %s: %v", name, err)
		}
		a.logger.Info("all sessions deleted", zap.String("policy", name), zap.Int("deleted", n))
	}
	return writeJSON(w, deleted{n})
}

// noArguments rejects a query or a body on a call that takes neither.
func noArguments(r *http.Request) error {
	if _, err := parseQuery(r.URL.RawQuery); err != nil {
		return err
	}
	return requireNoBody(r)
}

// policyOf returns the state of the policy named in the request's path.
func policyOf(r *http.Request) (*state.Policy, error) {
	name := r.PathValue("name")
	if p, ok := state.Lookup(name); ok {
		return p, nil
	}
	return nil, apiError(http.StatusNotFound, "no simple_client_session policy named %q", name)
}

// instanceOf returns the name and the newest instance of the policy named in
// the request's path.
func instanceOf(r *http.Request) (string, *state.Instance, error) {
	p, err := policyOf(r)
	if err != nil {
		return "", nil, err
	}
	i := p.Newest()
	if i == nil {
		return "", nil, apiError(http.StatusNotFound, "no simple_client_session policy named %q", p.Name())
	}
	return p.Name(), i, nil
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	return nil
}

// Interface guards
var (
	_ caddy.AdminRouter  = (*AdminAPI)(nil)
	_ caddy.Provisioner  = (*AdminAPI)(nil)
	_ caddy.AdminHandler = methods(nil)
)
