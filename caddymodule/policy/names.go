package policy

import (
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

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
