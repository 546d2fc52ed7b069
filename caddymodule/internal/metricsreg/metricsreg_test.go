package metricsreg

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRegisterTwice: every policy and handler of a config registers on its
// load's registry, so a second registration of the same collector reuses it;
// another collector under the same name is still an error.
func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_total", Help: "A test counter."}, []string{"status"})
	for range 2 {
		if err := Register(reg, c); err != nil {
			t.Fatal(err)
		}
	}
	c.WithLabelValues("503").Inc()
	if n, err := testutil.GatherAndCount(reg, "test_total"); err != nil || n != 1 {
		t.Fatalf("gathered %d series of test_total (%v), want 1", n, err)
	}
	other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "test_total", Help: "A test counter."}, []string{"status"})
	if err := Register(reg, other); err == nil || !strings.Contains(err.Error(), "registering metrics") {
		t.Fatalf("registering another collector as test_total: %v, want an error", err)
	}
	if err := Register(nil, c); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}
