// Package metricsreg registers the plugin's Prometheus collectors on a config
// load's registry. The collectors are package-level in each module's package,
// so that counts continue across config reloads; every config load has a new
// registry, and each module registers them on its load's registry in
// Provision.
package metricsreg

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers collectors on registry. Every module instance of a load
// calls it; all but the first find them registered already. A nil registry
// (no metrics in this context) registers nothing.
func Register(registry *prometheus.Registry, collectors ...prometheus.Collector) error {
	if registry == nil {
		return nil
	}
	for _, c := range collectors {
		if err := registry.Register(c); err != nil {
			if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return fmt.Errorf("registering metrics: %w", err)
		}
	}
	return nil
}
