package sessionaffinity

// Store binds session ids to upstream keys. *Table keeps the bindings in this
// process's memory; redisstore.Store shares them between several Caddy nodes.
type Store interface {
	// Lookup returns the upstream bound to id and records the use.
	Lookup(id string) (upstream string, found bool)
	// Bind binds id to upstream unless it is bound already, and returns the
	// upstream the session is bound to afterwards (the first binder wins) and
	// whether this call made the binding. made is false when the call found
	// the session bound already, even to upstream: a concurrent first request
	// (on another node, with a shared store) bound it, and this one follows.
	Bind(id, upstream string) (bound string, made bool)
	// Rebind moves id from `from` to `to` only while it is still bound to
	// `from` (compare-and-set), binds it to `to` if it is not bound at all, and
	// returns the upstream the session is bound to afterwards and whether this
	// call moved it there. moved is false when the call found the session
	// moved already, even to `to`: a concurrent rebind (on another node, with
	// a shared store) made that move, and this one only follows it.
	Rebind(id, from, to string) (bound string, moved bool)

	// Forget deletes one session wherever the store keeps it, so that its next
	// request is placed anew; it reports whether the session was there. An
	// error means the deletion may not have reached every node.
	Forget(id string) (found bool, err error)
	// ForgetUpstream deletes every session bound to upstream (to drain it) and
	// returns how many went.
	ForgetUpstream(upstream string) (deleted int, err error)
	// ForgetAll deletes every session and returns about how many there were.
	ForgetAll() (deleted int, err error)
}

// Interface guard
var _ Store = (*Table)(nil)
