package policy

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/caddymodule/state"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity/redisstore"
)

// StoreConfig says where the policy keeps its sessions. Without it (the
// default) they live in this Caddy's memory only.
type StoreConfig struct {
	// Redis shares the sessions between several Caddy nodes.
	Redis *RedisConfig `json:"redis,omitempty"`
}

// RedisConfig configures the Redis session store. Every string may hold
// global placeholders such as {env.REDIS_PASSWORD}, replaced at provisioning.
type RedisConfig struct {
	// Addresses (host:port) of Redis: one for a single server, the seeds of a
	// Cluster, or the Sentinels when MasterName is set.
	Addresses []string `json:"addresses,omitempty"`
	// MasterName is the Sentinel master name; it turns Sentinel on.
	MasterName string `json:"master_name,omitempty"`
	// Username and Password authenticate to Redis (ACL or requirepass).
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// DB is the database number (single server and Sentinel). Default: 0.
	DB int `json:"db,omitempty"`
	// KeyPrefix goes before "<policy name>:<session id>" to make each
	// session's key. Default: "soap_affinity:".
	KeyPrefix string `json:"key_prefix,omitempty"`
	// Timeout bounds each Redis command; a request never waits longer for
	// Redis. Default: 1s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Backoff is how long Redis is left alone after it stops answering,
	// before one request tries it again. Default: 1s.
	Backoff caddy.Duration `json:"backoff,omitempty"`
	// CacheTTL is, with expiry sliding, the slack of a session's timeout in
	// Redis: a session ends there from its timeout to its timeout plus
	// CacheTTL after its last use on any node, and a busy session's key is
	// written (and every node's cached binding read again) about once per
	// CacheTTL. Shorter than the timeout. Default: half the timeout, at most
	// 5m.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// TLS, if set (even empty), connects to Redis over TLS.
	TLS *redisstore.TLSFiles `json:"tls,omitempty"`
}

const defaultRedisKeyPrefix = "soap_affinity:"

// redisClients holds the Redis clients, keyed by their options, so that a
// config reload reuses the connections (and their cache of bindings) instead
// of reopening them.
var redisClients = caddy.NewUsagePool()

type pooledRedisClient struct{ *redisstore.Client }

// Destruct implements caddy.Destructor: no config uses the client any more.
func (c pooledRedisClient) Destruct() error {
	c.Close()
	return nil
}

// redisLease is a policy instance's Redis store and its hold on the pooled
// client, given back at Cleanup.
type redisLease struct {
	store     *redisstore.Store
	clientKey string
	// drainsKey is the Redis set of the policy's draining upstreams. It is
	// outside the sessions' key prefix, so that deleting every session leaves
	// it alone.
	drainsKey string
	// counts are the live sessions per upstream over every node of the
	// policy.
	counts *redisstore.Counts
}

// countsEvery is how often a node reads the cluster's sessions per upstream
// (or, on a Redis Cluster, publishes its own) for placement and drains.
const countsEvery = time.Second

// processID names this Caddy process among the nodes that publish session
// counts; successive configs share it, so that a reload does not count the
// process twice.
var processID = func() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

func (l *redisLease) release() error {
	l.counts.Close()
	_, err := redisClients.Delete(l.clientKey)
	return err
}

// provision resolves placeholders, checks the options, takes a client from the
// pool and makes the store in front of the policy's local table.
func (c RedisConfig) provision(ctx caddy.Context, policy string, local *sessionaffinity.Table, logger *zap.Logger) (*redisLease, error) {
	c.resolvePlaceholders()
	if err := c.validate(); err != nil {
		return nil, err
	}
	opts, err := c.clientOptions()
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	keyJSON, _ := json.Marshal(c)
	sum := sha256.Sum256(keyJSON)
	clientKey := hex.EncodeToString(sum[:])
	val, _, err := redisClients.LoadOrNew(clientKey, func() (caddy.Destructor, error) {
		client, err := redisstore.NewClient(opts)
		return pooledRedisClient{client}, err
	})
	if err != nil {
		return nil, fmt.Errorf("redis store: %w", err)
	}
	errorsCounter := metrics.redisErrs.WithLabelValues(policy)
	fields := []zap.Field{zap.Strings("addresses", c.Addresses)}
	store, err := redisstore.New(redisstore.Config{
		Client:         val.(pooledRedisClient).Client,
		KeyPrefix:      c.KeyPrefix + policy + ":",
		Local:          local,
		CommandTimeout: time.Duration(c.Timeout),
		Backoff:        time.Duration(c.Backoff),
		CacheTTL:       time.Duration(c.CacheTTL),
		// Outside the sessions' key prefix, like the drains.
		CountSets: c.KeyPrefix + policy + "#sessions:",
		OnError:   func(error) { errorsCounter.Inc() },
		OnDown: func(err error) {
			logger.Warn("redis session store unreachable; routing on this node's local session table until it answers",
				append(fields, zap.Error(err))...)
		},
		OnUp: func() { logger.Info("redis session store answers again", fields...) },
	})
	if err != nil {
		_, _ = redisClients.Delete(clientKey)
		return nil, err
	}
	return &redisLease{
		store:     store,
		clientKey: clientKey,
		drainsKey: c.KeyPrefix + policy + "#drains",
		counts:    store.Counts(c.KeyPrefix+policy+"#counts", processID, countsEvery),
	}, nil
}

func (c *RedisConfig) resolvePlaceholders() {
	repl := caddy.NewReplacer()
	addrs := make([]string, len(c.Addresses))
	for i, a := range c.Addresses {
		addrs[i] = repl.ReplaceKnown(a, "")
	}
	c.Addresses = addrs
	for _, s := range []*string{&c.MasterName, &c.Username, &c.Password, &c.KeyPrefix} {
		*s = repl.ReplaceKnown(*s, "")
	}
	if c.TLS != nil {
		t := *c.TLS
		for _, s := range []*string{&t.CA, &t.Cert, &t.Key, &t.ServerName} {
			*s = repl.ReplaceKnown(*s, "")
		}
		c.TLS = &t
	}
	if c.KeyPrefix == "" {
		c.KeyPrefix = defaultRedisKeyPrefix
	}
}

func (c RedisConfig) validate() error {
	if len(c.Addresses) == 0 {
		return errors.New("redis store: no address")
	}
	for _, a := range c.Addresses {
		if a == "" {
			return errors.New("redis store: an address is empty (an unset {env.*} placeholder?)")
		}
	}
	if c.DB < 0 {
		return fmt.Errorf("redis store: db must be 0 or more, got %d", c.DB)
	}
	for name, d := range map[string]caddy.Duration{"timeout": c.Timeout, "backoff": c.Backoff, "cache_ttl": c.CacheTTL} {
		if d < 0 {
			return fmt.Errorf("redis store: %s must be positive, got %s", name, time.Duration(d))
		}
	}
	return nil
}

// clientOptions turns the config into the client's options.
func (c RedisConfig) clientOptions() (redisstore.ClientOptions, error) {
	opts := redisstore.ClientOptions{
		Addresses:   c.Addresses,
		MasterName:  c.MasterName,
		Username:    c.Username,
		Password:    c.Password,
		DB:          c.DB,
		DialTimeout: time.Duration(c.Timeout),
	}
	if c.TLS != nil {
		tc, err := c.TLS.Config()
		if err != nil {
			return opts, err
		}
		opts.TLS = tc
	}
	return opts, nil
}

// Interface guard: the upstream listing reads the Redis counts afresh.
var _ state.CountRefresher = (*redisstore.Counts)(nil)
