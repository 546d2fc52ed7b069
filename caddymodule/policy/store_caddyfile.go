package policy

import (
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity/redisstore"
)

// unmarshalStore parses the policy's store option. Syntax:
//
//	store redis {
//		address      <host:port> [<host:port>...]
//		master_name  <name>
//		username     <name>
//		password     <password>
//		db           <number>
//		key_prefix   <prefix>
//		timeout      <duration>
//		backoff      <duration>
//		cache_ttl    <duration>
//		tls [{
//			ca                   <pem file>
//			cert                 <pem file>
//			key                  <pem file>
//			server_name          <name>
//			insecure_skip_verify
//		}]
//	}
func (p *SimpleClientSession) unmarshalStore(d *caddyfile.Dispenser) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	if d.Val() != "redis" {
		return d.Errf("unknown session store '%s' (want redis)", d.Val())
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	if p.Store != nil {
		return d.Err("session store already specified")
	}
	c := &RedisConfig{}
	for d.NextBlock(1) {
		option := d.Val()
		var err error
		switch option {
		case "address":
			c.Addresses = append(c.Addresses, d.RemainingArgs()...)
			if len(c.Addresses) == 0 {
				return d.ArgErr()
			}
		case "master_name":
			err = oneArg(d, option, stringSetter(&c.MasterName))
		case "username":
			err = oneArg(d, option, stringSetter(&c.Username))
		case "password":
			err = oneArg(d, option, stringSetter(&c.Password))
		case "db":
			err = oneArg(d, option, func(v string) (err error) {
				c.DB, err = strconv.Atoi(v)
				if err == nil && c.DB < 0 {
					err = errNegative
				}
				return err
			})
		case "key_prefix":
			err = oneArg(d, option, stringSetter(&c.KeyPrefix))
		case "timeout":
			err = oneArg(d, option, durationSetter(&c.Timeout))
		case "backoff":
			err = oneArg(d, option, durationSetter(&c.Backoff))
		case "cache_ttl":
			err = oneArg(d, option, durationSetter(&c.CacheTTL))
		case "tls":
			c.TLS, err = unmarshalRedisTLS(d)
		default:
			return d.Errf("unrecognized redis store option '%s'", option)
		}
		if err != nil {
			return err
		}
	}
	p.Store = &StoreConfig{Redis: c}
	return nil
}

func unmarshalRedisTLS(d *caddyfile.Dispenser) (*redisstore.TLSFiles, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	t := &redisstore.TLSFiles{}
	for d.NextBlock(2) {
		option := d.Val()
		var err error
		switch option {
		case "ca":
			err = oneArg(d, option, stringSetter(&t.CA))
		case "cert":
			err = oneArg(d, option, stringSetter(&t.Cert))
		case "key":
			err = oneArg(d, option, stringSetter(&t.Key))
		case "server_name":
			err = oneArg(d, option, stringSetter(&t.ServerName))
		case "insecure_skip_verify":
			t.InsecureSkipVerify = true
			if d.NextArg() {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unrecognized redis tls option '%s'", option)
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

var (
	errNegative         = errors.New("want 0 or more")
	errPositiveDuration = errors.New("want a duration above 0, such as 100ms")
)

func durationSetter(dst *caddy.Duration) func(string) error {
	return func(v string) error {
		dur, err := caddy.ParseDuration(v)
		if err == nil && dur <= 0 {
			err = errPositiveDuration
		}
		*dst = caddy.Duration(dur)
		return err
	}
}
