package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// redisErrors counts failed Redis commands of the session store. It outlives
// config reloads; each config's metrics registry gets it registered again.
var redisErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
	Namespace: "caddy",
	Subsystem: "soap_affinity",
	Name:      "redis_errors_total",
	Help:      "Redis commands of the simple_client_session store that failed or timed out; the request was routed on the node's local session table instead.",
}, []string{"policy"})

// registerRedisMetrics registers the Redis metrics on the config's registry.
func registerRedisMetrics(ctx caddy.Context, logger *zap.Logger) *prometheus.CounterVec {
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		if err := reg.Register(redisErrors); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			logger.Warn("registering redis metrics", zap.Error(err))
		}
	}
	return redisErrors
}
