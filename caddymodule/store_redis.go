package caddymodule

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

// StoreConfig says where the policy keeps its sessions. Without it (the
// default) they live in this Caddy's memory only.
type StoreConfig struct {
	// Redis shares the sessions between several Caddy nodes.
	Redis *RedisStoreConfig `json:"redis,omitempty"`
}

// RedisStoreConfig configures the Redis session store. Every string may hold
// global placeholders such as {env.REDIS_PASSWORD}, replaced at provisioning.
type RedisStoreConfig struct {
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
	// Timeout bounds each Redis command (and each connection attempt); a
	// request never waits longer for Redis. Default: 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Backoff is how long Redis is left alone after a failure, before one
	// request tries it again. Default: 1s.
	Backoff caddy.Duration `json:"backoff,omitempty"`
	// CacheTTL is how long this node uses a binding read from Redis without
	// asking again. Default: 1s.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// TLS, if set (even empty), connects to Redis over TLS.
	TLS *RedisTLSConfig `json:"tls,omitempty"`
}

// RedisTLSConfig configures TLS to Redis.
type RedisTLSConfig struct {
	// CA is a PEM file of the certificate authorities to trust instead of the
	// system's.
	CA string `json:"ca,omitempty"`
	// Cert and Key are PEM files of a client certificate and its key.
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `json:"server_name,omitempty"`
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

const defaultRedisKeyPrefix = "soap_affinity:"

// redisClients holds the Redis clients, keyed by their options, so that a
// config reload reuses the connections instead of reopening them.
var redisClients = caddy.NewUsagePool()

type pooledRedisClient struct{ redis.UniversalClient }

// Destruct implements caddy.Destructor: no config uses the client any more.
func (c pooledRedisClient) Destruct() error { return c.Close() }

// redisBinding is a policy instance's hold on a Redis store and its client.
type redisBinding struct {
	store     *sessionaffinity.RedisStore
	clientKey string
}

func (b *redisBinding) release() error {
	b.store.Close()
	_, err := redisClients.Delete(b.clientKey)
	return err
}

// provision resolves placeholders, checks the options, takes a client from the
// pool and makes the store in front of the policy's local table.
func (c RedisStoreConfig) provision(ctx caddy.Context, policy string, local *sessionaffinity.Table, logger *zap.Logger) (*redisBinding, error) {
	c.resolvePlaceholders()
	if err := c.validate(); err != nil {
		return nil, err
	}
	opts, err := c.clientOptions()
	if err != nil {
		return nil, err
	}
	routeRedisLogs()
	keyJSON, _ := json.Marshal(c)
	sum := sha256.Sum256(keyJSON)
	clientKey := hex.EncodeToString(sum[:])
	val, _, err := redisClients.LoadOrNew(clientKey, func() (caddy.Destructor, error) {
		return pooledRedisClient{redis.NewUniversalClient(opts)}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("redis client: %w", err)
	}
	errorsCounter := metrics.redisErrs.WithLabelValues(policy)
	fields := []zap.Field{zap.Strings("addresses", c.Addresses)}
	store, err := sessionaffinity.NewRedisStore(sessionaffinity.RedisStoreConfig{
		Client:         val.(pooledRedisClient).UniversalClient,
		KeyPrefix:      c.KeyPrefix + policy + ":",
		Local:          local,
		CommandTimeout: time.Duration(c.Timeout),
		Backoff:        time.Duration(c.Backoff),
		CacheTTL:       time.Duration(c.CacheTTL),
		OnError:        func(error) { errorsCounter.Inc() },
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
	return &redisBinding{store: store, clientKey: clientKey}, nil
}

func (c *RedisStoreConfig) resolvePlaceholders() {
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

func (c RedisStoreConfig) validate() error {
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
	if c.TLS != nil && (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return errors.New("redis store: tls cert and key go together")
	}
	return nil
}

// clientOptions turns the config into go-redis options: every wait is bounded
// by the command timeout, and go-redis does not retry, since the store falls
// back to the local table instead.
func (c RedisStoreConfig) clientOptions() (*redis.UniversalOptions, error) {
	timeout := time.Duration(c.Timeout)
	if timeout == 0 {
		timeout = sessionaffinity.DefaultRedisCommandTimeout
	}
	opts := &redis.UniversalOptions{
		Addrs:                 c.Addresses,
		MasterName:            c.MasterName,
		Username:              c.Username,
		Password:              c.Password,
		DB:                    c.DB,
		DialTimeout:           timeout,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DialerRetries:         1,
	}
	if c.TLS != nil {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	return opts, nil
}

func (t RedisTLSConfig) config() (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as for tests
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("redis store: tls ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis store: tls ca %s: no PEM certificate in it", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("redis store: tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// routeRedisLogs sends go-redis's own log lines (a failed dial, for one) to
// Caddy's log at debug level instead of stderr; the store logs each outage
// once, as a warning.
var routeRedisLogs = sync.OnceFunc(func() {
	redis.SetLogger(redisLogger{caddy.Log().Named("redis")})
})

type redisLogger struct{ logger *zap.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	if ce := l.logger.Check(zap.DebugLevel, fmt.Sprintf(format, v...)); ce != nil {
		ce.Write()
	}
}
