package redisstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// ClientOptions say how to reach Redis: one server, the seeds of a Cluster,
// or the Sentinels of a master.
type ClientOptions struct {
	// Addresses (host:port) of Redis: one for a single server (or any node of
	// a Cluster), the seeds of a Cluster, or the Sentinels when MasterName is
	// set.
	Addresses []string
	// MasterName is the Sentinel master name; it turns Sentinel on.
	MasterName string
	// Username and Password authenticate to Redis (ACL or requirepass).
	Username, Password string
	// DB is the database number (single server and Sentinel).
	DB int
	// DialTimeout bounds each connection attempt; below a second, a second.
	DialTimeout time.Duration
	// TLS, if set, connects over TLS.
	TLS *tls.Config
}

// Client is a Redis client shared by the stores of successive configs. It is
// made lazily: a Redis that is down when Caddy starts is connected to when it
// answers, on the first request after a store's backoff.
//
// It is rueidis's client: every command of every request is pipelined on a
// few connections (no pool to wait for, so a burst of requests never looks
// like a slow Redis), and bindings are cached in this process with Redis's
// CLIENT TRACKING, which drops a cached binding the moment any node changes it.
type Client struct {
	opts rueidis.ClientOption

	mu     sync.Mutex // held while connecting
	conn   atomic.Pointer[rueidis.Client]
	closed bool
}

// NewClient makes a client and tries to connect it once; a failure to
// connect is not an error (see Client), only bad options are.
func NewClient(o ClientOptions) (*Client, error) {
	if len(o.Addresses) == 0 {
		return nil, errors.New("redis: no address")
	}
	// A connection is made once, not per request, and a busy machine can take
	// more than a command's timeout to make one.
	o.DialTimeout = max(o.DialTimeout, time.Second)
	c := &Client{opts: rueidis.ClientOption{
		InitAddress: o.Addresses,
		Username:    o.Username,
		Password:    o.Password,
		SelectDB:    o.DB,
		TLSConfig:   o.TLS,
		Dialer:      netDialer(o.DialTimeout),
		Sentinel:    rueidis.SentinelOption{MasterSet: o.MasterName, TLSConfig: o.TLS, Dialer: netDialer(o.DialTimeout)},
		// One immediate retry of a command on a connection that broke (Redis
		// restarted, say, and the connection has not noticed yet); beyond it,
		// the store falls back to the node's own table.
		RetryDelay: func(attempts int, _ rueidis.Completed, _ error) time.Duration {
			if attempts <= 1 {
				return 0
			}
			return -1
		},
		// Each connection's cache of bindings; a binding takes about 100
		// bytes, so this holds a few hundred thousand per connection.
		CacheSizeEachConn: 32 << 20,
	}}
	_, _ = c.connect()
	return c, nil
}

// connect returns the rueidis client, connecting it if it is not yet.
func (c *Client) connect() (rueidis.Client, error) {
	if conn := c.conn.Load(); conn != nil {
		return *conn, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, rueidis.ErrClosing
	}
	if conn := c.conn.Load(); conn != nil {
		return *conn, nil
	}
	conn, err := rueidis.NewClient(c.opts)
	if err != nil {
		return nil, fmt.Errorf("connecting to redis %v: %w", c.opts.InitAddress, err)
	}
	c.conn.Store(&conn)
	return conn, nil
}

// Close closes the connections. The stores using the client fall back to
// their local tables.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if conn := c.conn.Swap(nil); conn != nil {
		(*conn).Close()
	}
}

// netDialer connects within timeout and probes idle connections every second,
// as rueidis does by default.
func netDialer(timeout time.Duration) net.Dialer {
	return net.Dialer{Timeout: timeout, KeepAlive: time.Second}
}

// TLSFiles configures TLS to Redis from PEM files.
type TLSFiles struct {
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

// Config reads the files and makes the TLS configuration.
func (t TLSFiles) Config() (*tls.Config, error) {
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("redis tls: cert and key go together")
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as for tests
	}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("redis tls ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis tls ca %s: no PEM certificate in it", t.CA)
		}
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("redis tls client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
