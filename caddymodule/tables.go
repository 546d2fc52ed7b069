package caddymodule

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// tables holds the session tables of every policy instance, keyed by the
// instance's name and table settings, so that a config reload (which provisions
// new instances before it cleans up the old ones) hands the same table over and
// no session is lost.
var tables = caddy.NewUsagePool()

// sharedTable is a session table shared by the successive instances of one
// policy across config reloads.
type sharedTable struct {
	*sessionaffinity.Table
	name string
	// seq orders tables by creation, so that the newest of a name can be found.
	seq      uint64
	removals removalCounters
	// logTo is the logger of the newest instance, used for expiry lines.
	logTo atomic.Pointer[tableLogger]
	// store is the newest instance's store (the table, or the Redis store in
	// front of it): the admin API deletes through it.
	store atomic.Pointer[sessionaffinity.Store]
}

// Store returns the store of the newest policy instance using the table.
func (t *sharedTable) Store() sessionaffinity.Store {
	if s := t.store.Load(); s != nil {
		return *s
	}
	return t.Table
}

type tableLogger struct {
	logger        *zap.Logger
	logSessionIDs bool
}

// Destruct implements caddy.Destructor: the last instance using the table is gone.
func (t *sharedTable) Destruct() error {
	t.Close()
	return nil
}

// onRemove counts and logs a session that left the table on its own.
func (t *sharedTable) onRemove(id, upstream string, cause sessionaffinity.RemovalCause) {
	t.removals.count(cause)
	l := t.logTo.Load()
	if l == nil {
		return
	}
	if ce := l.logger.Check(zap.DebugLevel, "session removed"); ce != nil {
		ce.Write(sessionFields(l.logSessionIDs, id, zap.String("upstream", upstream), zap.String("cause", string(cause)))...)
	}
}

// tableKey identifies a table across reloads: a policy keeps its sessions while
// its name and table settings stay the same.
func tableKey(name string, cfg sessionaffinity.TableConfig) string {
	return fmt.Sprintf("%s|%d|%s|%s", name, cfg.MaxSessions, cfg.Timeout, cfg.Expiry)
}

// loadTable returns the table for name and cfg, creating it if no instance
// holds it yet. The caller must release it with tables.Delete(key).
func loadTable(name string, cfg sessionaffinity.TableConfig) (key string, t *sharedTable, err error) {
	key = tableKey(name, cfg)
	val, _, err := tables.LoadOrNew(key, func() (caddy.Destructor, error) {
		st := &sharedTable{name: name, seq: tableSeq.Add(1), removals: newRemovalCounters(name)}
		cfg.OnRemove = st.onRemove
		table, err := sessionaffinity.NewTable(cfg)
		if err != nil {
			return nil, err
		}
		st.Table = table
		return st, nil
	})
	if err != nil {
		return "", nil, err
	}
	return key, val.(*sharedTable), nil
}

var tableSeq atomic.Uint64

// liveTables returns the tables in use by name. Tables share a name while a
// reload that changed a policy's table settings hands over from the old
// config to the new one (or if one config gives two policies the same name but
// different settings); the newest of them stands for the name.
func liveTables() map[string]*sharedTable {
	live := map[string]*sharedTable{}
	tables.Range(func(_, value any) bool {
		t := value.(*sharedTable)
		if cur, ok := live[t.name]; !ok || t.seq > cur.seq {
			live[t.name] = t
		}
		return true
	})
	return live
}

// autoNames numbers the unnamed policy instances of each HTTP server of one
// config load, in the order of the server's config. Caddy provisions its
// servers in no fixed order (it ranges over a map) but each server's routes
// and handlers in order, so a name made of the server's name and the
// policy's position in it is the same on every load of the same config.
// Loads are provisioned one at a time; a new load is recognised by its root
// module (the first in the context's lineage), a new value for every load.
var autoNames struct {
	sync.Mutex
	root    caddy.Module
	counted map[string]int // by server name
}

// autoName is simple_client_session_<server>_<n>, or simple_client_session_<n>
// for a policy provisioned outside an HTTP server.
func autoName(ctx caddy.Context) string {
	var root caddy.Module
	if mods := ctx.Modules(); len(mods) > 0 {
		root = mods[0]
	}
	server := ""
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv != nil {
		server = srv.Name()
	}
	autoNames.Lock()
	defer autoNames.Unlock()
	if root == nil || root != autoNames.root || autoNames.counted == nil {
		autoNames.root, autoNames.counted = root, map[string]int{}
	}
	autoNames.counted[server]++
	if server == "" {
		return fmt.Sprintf("simple_client_session_%d", autoNames.counted[server])
	}
	return fmt.Sprintf("simple_client_session_%s_%d", server, autoNames.counted[server])
}

// sessionFields builds log fields, with the session id only if asked for.
func sessionFields(logIDs bool, id string, fields ...zap.Field) []zap.Field {
	if logIDs {
		fields = append(fields, zap.String("session_id", id))
	}
	return fields
}
