// Package e2e runs the Caddy binary built from cmd/caddy, as a user would: the
// demo Caddyfile, the README's commands, and tests that need a process
// boundary.
package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/internal/porttest"
)

// caddyBin is the binary built from cmd/caddy for this test run.
var caddyBin string

// repoRoot is the repository's top folder, where the README's commands run.
var repoRoot string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "soap-affinity-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	repoRoot, err = filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "./cmd/caddy")
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building cmd/caddy: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// caddyProcess is a running Caddy.
type caddyProcess struct {
	cmd       *exec.Cmd
	adminAddr string
	log       *syncWriter
	// stop interrupts Caddy and waits for it to exit; the test's end calls it too.
	stop func()
}

// output is what Caddy has written to stdout and stderr so far.
func (p *caddyProcess) output() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return p.log.w.(*strings.Builder).String()
}

// startCaddy runs `caddy run --config config` in the repository root and waits
// until its admin endpoint answers. It is stopped when the test ends.
func startCaddy(t *testing.T, config, adminAddr string, env ...string) *caddyProcess {
	t.Helper()
	env = append(os.Environ(), env...)
	porttest.RequireFree(t, listenAddrs(t, config, env)...)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, caddyBin, "run", "--config", config)
	cmd.Dir = repoRoot
	cmd.Env = env
	// One writer for both streams, so that their writes never race.
	log := &syncWriter{w: &strings.Builder{}}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting caddy: %v", err)
	}
	p := &caddyProcess{cmd: cmd, adminAddr: adminAddr, log: log}
	p.stop = sync.OnceFunc(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("caddy output:\n%s", p.output())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/config/")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("caddy did not start: %v\n%s", err, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bash runs a shell command in the repository root, as the README's readers do.
func bash(t *testing.T, command string) string {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", command)
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("command failed: %v\n$ %s\n%s", err, command, out)
	}
	return string(out)
}

// listenAddrs returns the addresses Caddy will listen on with config and env:
// its admin endpoint and every HTTP server's, as `caddy adapt` gives them (or
// a JSON config holds them).
func listenAddrs(t *testing.T, config string, env []string) []string {
	t.Helper()
	var out []byte
	var err error
	if strings.HasSuffix(config, ".json") { // already what adapt would give
		path := config
		if !filepath.IsAbs(path) {
			path = filepath.Join(repoRoot, path)
		}
		out, err = os.ReadFile(path)
	} else {
		cmd := exec.Command(caddyBin, "adapt", "--config", config)
		cmd.Dir, cmd.Env = repoRoot, env
		out, err = cmd.Output()
	}
	if err != nil {
		t.Fatalf("caddy adapt --config %s: %v", config, err)
	}
	var adapted struct {
		Admin struct {
			Listen string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Listen []string `json:"listen"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &adapted); err != nil {
		t.Fatalf("caddy adapt --config %s: %v", config, err)
	}
	addrs := []string{cmp.Or(adapted.Admin.Listen, "localhost:2019")}
	for _, srv := range adapted.Apps.HTTP.Servers {
		addrs = append(addrs, srv.Listen...)
	}
	for i, a := range addrs {
		addrs[i] = strings.TrimPrefix(a, "tcp/") // Caddy's network/address form
	}
	return addrs
}
