package porttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Lock takes, for the rest of the process, this machine's lock on the test
// ports named by ports, so that a second test run on the same ports (another
// `go test` of the same packages, from this checkout or another) fails at
// once, naming the run that holds them, instead of sharing the ports with it
// through SO_REUSEPORT. A check of the ports alone does not do: a run holds
// them only while its Caddy runs, and another run can start in between.
// The lock goes with the process, however it ends. Runs in different network
// namespaces have different ports, and different locks.
func Lock(ports ...int) error {
	names := make([]string, len(ports))
	for i, p := range ports {
		names[i] = fmt.Sprint(p)
	}
	path := filepath.Join(os.TempDir(), "soap-affinity-test-ports-"+netNamespace()+strings.Join(names, "-")+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return fmt.Errorf("opening the test port lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		return fmt.Errorf("ports %s are taken by another test run (%s, lock %s): wait for it to end, "+
			"or run this one in a network namespace of its own (unshare -n)",
			strings.Join(names, ", "), strings.TrimSpace(string(holder)), path)
	}
	cmdline, _ := os.ReadFile("/proc/self/cmdline")
	_ = f.Truncate(0)
	_, _ = f.WriteAt(fmt.Appendf(nil, "pid %d (%s)\n", os.Getpid(),
		strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))), 0)
	held = append(held, f)
	return nil
}

// netNamespace names the network namespace of the process ("4026531840-"),
// or "" where that is not known: ports are per namespace, so runs in
// namespaces of their own (unshare -n) do not meet and need no common lock.
func netNamespace() string {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return ""
	}
	return strings.Trim(strings.TrimPrefix(ns, "net:"), "[]") + "-"
}

// held keeps the lock files open, and so the locks held, until the process
// exits: an unreachable *os.File would be closed by its finalizer.
var held []*os.File
