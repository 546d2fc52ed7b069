package caddymodule

import (
	"fmt"
	"os"
	"testing"

	"github.com/soap-affinity/caddy-soap-affinity/internal/porttest"
)

// TestMain makes sure these tests have their fixed ports to themselves before
// any runs: caddytest's in-process Caddy listens on fixed ports with
// SO_REUSEPORT, so a second run (or the demo) on the same ports would
// otherwise share them silently and see the other's traffic. It fails at once,
// naming the holder.
func TestMain(m *testing.M) {
	if err := porttest.Lock(adminPort, httpPort); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The ports of the test Caddy's sites, and the demo's, which some tests
	// use as the README does.
	if err := porttest.CheckFree(fmt.Sprintf("localhost:%d", adminPort), fmt.Sprintf(":%d", httpPort),
		fmt.Sprintf(":%d", httpPort+1), ":8290", ":8280"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
