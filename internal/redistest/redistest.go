// Package redistest runs a real redis-server for tests: on a free loopback
// port, without persistence, stopped when the test ends. Tests fail (not skip)
// when redis-server is not installed: CI installs it.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a redis-server process that can be stopped and started again on
// the same port.
type Server struct {
	t    testing.TB
	Addr string // host:port
	port int

	mu  sync.Mutex
	cmd *exec.Cmd
	log *strings.Builder
}

// Start runs redis-server on a free loopback port and waits until it answers.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserving a port for redis: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.Restart()
	t.Cleanup(s.Stop)
	return s
}

// Restart starts the server again (empty: nothing is persisted).
func (s *Server) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatalf("redis on %s is running already", s.Addr)
	}
	log := &strings.Builder{}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--enable-debug-command", "local")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	s.cmd, s.log = cmd, log
	deadline := time.Now().Add(10 * time.Second)
	for {
		if reply, err := s.Do("PING"); err == nil && reply == "PONG" {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start:\n%s", s.Addr, log.String())
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
	conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
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
		body, err := r.ReadString('\n')
		return strings.TrimRight(body, "\r\n"), err
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
