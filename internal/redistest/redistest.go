// Package redistest runs real Redis servers for tests: a single redis-server,
// one over TLS, a Sentinel setup or a Cluster, each on free loopback ports,
// without persistence unless asked, stopped when the test ends. Tests fail (not
// skip) when redis-server or redis-sentinel is not installed: CI installs them.
package redistest

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server (or redis-sentinel) process that can be stopped
// and started again on the same port.
type Server struct {
	t    testing.TB
	Addr string // host:port
	Port int

	bin  string   // redis-server or redis-sentinel
	args []string // its arguments
	tls  *tls.Config

	mu  sync.Mutex
	cmd *exec.Cmd
	log *strings.Builder
}

// Start runs redis-server on a free loopback port and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "redis-server", nil, nil, func(port int) []string { return serverArgs(port) })
}

// serverArgs are the arguments of a plain redis-server on port.
func serverArgs(port int) []string {
	return []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--enable-debug-command", "local"}
}

// start runs bin with the arguments args gives for a free port, then extra,
// and waits until it answers PING (over TLS with tc, if set).
func start(t testing.TB, bin string, tc *tls.Config, extra []string, args func(port int) []string) *Server {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s not found (apt-get install redis-server redis-sentinel): %v", bin, err)
	}
	port := FreePort(t)
	// A working folder of its own: a master writes its snapshot there for a
	// replica's first sync.
	all := append(append(args(port), extra...), "--dir", t.TempDir())
	if bin != "redis-server" || slices.Contains(all[:len(all)-2], "--dir") {
		all = all[:len(all)-2]
	}
	s := &Server{t: t, Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		bin: bin, args: all, tls: tc}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserving a port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Restart starts the server again (empty, unless it persists).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("redis on %s is running already", s.Addr)
	}
	log := &strings.Builder{}
	cmd := exec.Command(s.bin, s.args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting %s: %v", s.bin, err)
	}
	s.cmd, s.log = cmd, log
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := s.Do("PING"); err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s on %s did not start:\n%s", s.bin, s.Addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the server and waits for it to exit. It may be called twice.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Do sends one command (words without spaces) on a fresh connection and
// returns the reply's first line without its type byte: "PONG", "1", or "" for
// a nil reply. A bulk string reply is returned whole.
func (s *Server) Do(words ...string) (string, error) {
	var conn net.Conn
	var err error
	if s.tls != nil {
		conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", s.Addr, s.tls)
	} else {
		conn, err = net.DialTimeout("tcp", s.Addr, time.Second)
	}
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	req := fmt.Sprintf("*%d\r\n", len(words))
	for _, w := range words {
		req += fmt.Sprintf("$%d\r\n%s\r\n", len(w), w)
	}
	if _, err := conn.Write([]byte(req)); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case line == "":
		return "", fmt.Errorf("empty reply")
	case line[0] == '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case line == "$-1":
		return "", nil
	case line[0] == '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", err
		}
		body := make([]byte, n+2)
		_, err = io.ReadFull(r, body)
		return string(body[:n]), err
	default:
		return line[1:], nil
	}
}

// Get returns the value of key, "" if there is none; it fails the test on error.
func (s *Server) Get(key string) string {
	s.t.Helper()
	v, err := s.Do("GET", key)
	if err != nil {
		s.t.Fatalf("redis GET %s: %v", key, err)
	}
	return v
}

// PTTL returns the remaining time to live of key; it fails the test on error.
func (s *Server) PTTL(key string) time.Duration {
	s.t.Helper()
	v, err := s.Do("PTTL", key)
	if err != nil {
		s.t.Fatalf("redis PTTL %s: %v", key, err)
	}
	ms, err := strconv.Atoi(v)
	if err != nil {
		s.t.Fatalf("redis PTTL %s = %q", key, v)
	}
	return time.Duration(ms) * time.Millisecond
}
