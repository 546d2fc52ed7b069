// Package porttest checks, before a test starts a server on a fixed port, that
// nothing else listens there.
//
// Caddy sets SO_REUSEPORT on its listeners, so a second Caddy run by the same
// user binds the ports of a running one (the README's demo, say) without an
// error, and the kernel then splits the connections between the two: a test
// would see half its requests answered by the other process. A plain bind, as
// net.Listen makes it (SO_REUSEADDR only), is refused while any socket
// listens on the port, so it finds the other process first.
package porttest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// RequireFree fails the test unless every address (host:port) can be
// listened on, naming the process that holds a busy one and how to free it.
func RequireFree(t testing.TB, addrs ...string) {
	t.Helper()
	if err := CheckFree(addrs...); err != nil {
		t.Fatal(err)
	}
}

// CheckFree returns an error unless every address (host:port) can be
// listened on, naming the process that holds a busy one and how to free it.
func CheckFree(addrs ...string) error {
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("checking that %s is free: %w", addr, err)
		}
		_, port, _ := net.SplitHostPort(addr)
		return fmt.Errorf("%s is in use by %s; this test runs a server of its own there. "+
			"Stop that process (the README's demo: Ctrl-C in its terminal) and run the tests again. "+
			"(Caddy listens with SO_REUSEPORT: a second Caddy is not refused the port, "+
			"and the two would split the requests.)", addr, holder(port))
	}
	return nil
}

// holder describes the processes listening on TCP port, as far as /proc
// (Linux) tells, or says how to find them.
func holder(port string) string {
	p, err := strconv.Atoi(port)
	if err != nil {
		return "another process"
	}
	inodes := listeningInodes(p)
	var who []string
	if len(inodes) > 0 {
		pids, _ := filepath.Glob("/proc/[0-9]*")
		for _, dir := range pids {
			if processHoldsSocket(dir, inodes) {
				cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
				who = append(who, fmt.Sprintf("pid %s (%s)", filepath.Base(dir),
					strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))))
			}
		}
	}
	if len(who) == 0 {
		return fmt.Sprintf("another process (`ss -ltnp 'sport = :%d'` names it)", p)
	}
	return strings.Join(who, ", ")
}

// listeningInodes returns the socket inodes of TCP listeners on port, from
// /proc/net/tcp and tcp6 (columns: sl local_address rem_address st ...
// inode; the port is the hexadecimal after the colon, LISTEN is state 0A).
func listeningInodes(port int) map[string]bool {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(f[1], ':')
			if p, err := strconv.ParseInt(f[1][i+1:], 16, 32); err == nil && int(p) == port {
				inodes[f[9]] = true
			}
		}
	}
	return inodes
}

// processHoldsSocket tells whether the process at /proc/<pid> has one of the
// socket inodes open.
func processHoldsSocket(dir string, inodes map[string]bool) bool {
	fds, _ := filepath.Glob(filepath.Join(dir, "fd", "*"))
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err == nil && strings.HasPrefix(target, "socket:[") && inodes[strings.Trim(target[len("socket:"):], "[]")] {
			return true
		}
	}
	return false
}
