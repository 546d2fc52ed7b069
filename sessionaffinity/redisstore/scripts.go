package redisstore

import "github.com/redis/rueidis"

// The scripts run on one key each, the session's, so that they work on a
// Cluster too. A binding is the upstream's key; an empty value is a tombstone:
// the session was deleted (admin API), which tells the nodes that still hold a
// copy to drop it rather than share it again. A tombstone lives as long as a
// session would. Each takes one argument more, last, for the sets that count
// the sessions per upstream (counted, in counts.go). The binding scripts
// answer {binding, 1 if this call made it else 0, its remaining ms}: the flag
// tells a node that moved a session from one that found it moved already, to
// the upstream it would have chosen too (placement hash), by another node
// whose move it had not yet been told of.
//
// With max_lifetime (and sliding expiry), the binding scripts take a second
// key, KEYS[2], beside the binding's (see lifetimeKey): it lives for the
// lifetime from the first binding, so that its remaining ms are what is left
// of the session's life, and the binding's own timeout never outlasts it. The
// scripts then answer a fourth value, the lifetime key's remaining ms (-2 when
// it is gone). The flag comes before the times so that a missing lifetime
// (nil without KEYS[2], which ends a Lua array) cannot take it away.

// bindScript binds KEYS[1] to ARGV[1] for ARGV[2] ms unless it is bound, and
// returns {binding, bound by this call, its remaining ms}; a new binding's
// lifetime is ARGV[3] ms.
var bindScript = rueidis.NewLuaScriptRetryable(counted(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= '' then return {cur, 0, redis.call('PTTL', KEYS[1]), KEYS[2] and redis.call('PTTL', KEYS[2])} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[2] then redis.call('SET', KEYS[2], '', 'PX', ARGV[3]) end
return {ARGV[1], 1, tonumber(ARGV[2]), KEYS[2] and tonumber(ARGV[3])}
`))

// rebindScript moves KEYS[1] from ARGV[1] to ARGV[2] only while it is bound to
// ARGV[1], or binds it to ARGV[2] if it is not bound, and returns {binding,
// moved by this call, its remaining ms}: a binding found moved already, even
// to ARGV[2], was not moved by this call. The timeout (ARGV[3] ms) restarts if
// ARGV[4] is 1, else a moved binding keeps it. A moved binding keeps its
// lifetime too (a new one gets ARGV[5] ms), and its timeout never outlasts it.
var rebindScript = rueidis.NewLuaScriptRetryable(counted(`
local cur = redis.call('GET', KEYS[1])
if cur == '' then cur = false end
local function life() return KEYS[2] and redis.call('PTTL', KEYS[2]) end
if cur and cur ~= ARGV[1] then return {cur, 0, redis.call('PTTL', KEYS[1]), life()} end
if cur and ARGV[4] ~= '1' then
	redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
	return {ARGV[2], 1, redis.call('PTTL', KEYS[1]), life()}
end
local ttl = tonumber(ARGV[3])
if KEYS[2] then
	if not cur then redis.call('SET', KEYS[2], '', 'PX', ARGV[5]) end
	local left = redis.call('PTTL', KEYS[2])
	-- A binding without a lifetime key (made before max_lifetime was set)
	-- ends with its own timeout.
	if left < 0 then left = redis.call('PTTL', KEYS[1]) end
	if left > 0 then ttl = math.min(ttl, left) end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
return {ARGV[2], 1, ttl, life()}
`))

// forgetScript replaces the binding of KEYS[1] by a tombstone for ARGV[2] ms
// if it is bound to ARGV[1], or to anything when ARGV[1] is empty; it returns
// 1 if it did, else 0.
var forgetScript = rueidis.NewLuaScript(counted(`
local cur = redis.call('GET', KEYS[1])
if not cur or cur == '' or (ARGV[1] ~= '' and cur ~= ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], '', 'PX', ARGV[2])
return 1
`))
