package caddymodule

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// soapFaultMetrics holds the collectors of the soap_fault handler. It is the
// hook the metrics issue builds on: every handler instance of a config shares
// the collectors registered on that config's registry.
type soapFaultMetrics struct {
	faults *prometheus.CounterVec
}

// faultCounter is the part of a prometheus.Counter the handler uses.
type faultCounter interface{ Inc() }

// registerSOAPFaultMetrics registers the soap_fault collectors on reg, or
// returns the ones already registered there (Caddy provisions every handler
// instance against the same registry, and again on each config load).
func registerSOAPFaultMetrics(reg prometheus.Registerer) (*soapFaultMetrics, error) {
	faults := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy",
		Subsystem: "soap_affinity",
		Name:      "faults_total",
		Help:      "SOAP faults written instead of an error response, by the HTTP status of the handler error that triggered them.",
	}, []string{"status"})
	if reg == nil {
		return &soapFaultMetrics{faults: faults}, nil
	}
	if err := reg.Register(faults); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
		if !ok {
			return nil, err
		}
		faults = existing
	}
	return &soapFaultMetrics{faults: faults}, nil
}

// forStatus returns the counter of faults triggered by a handler error status,
// resolved once so that counting a fault does not allocate.
func (m *soapFaultMetrics) forStatus(status int) faultCounter {
	return m.faults.WithLabelValues(strconv.Itoa(status))
}
