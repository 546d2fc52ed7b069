package sessionaffinity

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A session used every 30s never goes idle, but max_lifetime ends it 5m after
// its first binding, and a rebind on the way does not lengthen it.
func TestMaxLifetimeEndsBusySession(t *testing.T) {
	tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute, MaxLifetime: 5 * time.Minute})
	tab.Bind("busy", "a")
	for step := 1; step < 10; step++ {
		clock.now.Add(int64(30 * time.Second))
		if step == 4 {
			tab.Rebind("busy", "a", "b")
		}
		if _, ok := tab.Lookup("busy"); !ok {
			t.Fatalf("busy session gone after %s, before its max lifetime", time.Duration(step)*30*time.Second)
		}
	}
	clock.now.Add(int64(30*time.Second) - 1) // 1ns before 5m
	if _, ok := tab.Lookup("busy"); !ok {
		t.Fatal("busy session gone 1ns before its max lifetime")
	}
	clock.now.Add(1)
	if up, ok := tab.Lookup("busy"); ok {
		t.Fatalf("busy session still on %s at its max lifetime", up)
	}
}

// Whichever comes first: an idle session ends at its idle timeout.
func TestMaxLifetimeIdleFirst(t *testing.T) {
	tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute, MaxLifetime: time.Hour})
	tab.Bind("idle", "a")
	clock.now.Add(int64(time.Minute))
	if _, ok := tab.Lookup("idle"); ok {
		t.Fatal("idle session outlived its idle timeout")
	}
}

// expiry fixed is max_lifetime = timeout without an idle timeout: an unused
// session lives its whole timeout, a busy one no longer; max_lifetime below
// the timeout shortens it.
func TestExpiryFixedIsMaxLifetime(t *testing.T) {
	for _, tc := range []struct {
		maxLifetime, ends time.Duration
	}{{0, 2 * time.Minute}, {time.Minute, time.Minute}, {time.Hour, 2 * time.Minute}} {
		t.Run(fmt.Sprint(tc.maxLifetime), func(t *testing.T) {
			tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: 2 * time.Minute, Expiry: ExpiryFixed, MaxLifetime: tc.maxLifetime})
			tab.Bind("unused", "a")
			tab.Bind("busy", "a")
			for elapsed := time.Duration(0); elapsed+10*time.Second < tc.ends; elapsed += 10 * time.Second {
				if _, ok := tab.Lookup("busy"); !ok {
					t.Fatalf("busy session gone after %s, want it to end at %s", elapsed, tc.ends)
				}
				clock.now.Add(int64(10 * time.Second))
			}
			if _, ok := tab.Get("unused"); !ok {
				t.Fatalf("unused session gone before %s", tc.ends)
			}
			clock.now.Add(int64(10*time.Second) - 1)
			if _, ok := tab.Lookup("busy"); !ok {
				t.Fatalf("busy session gone 1ns before %s", tc.ends)
			}
			clock.now.Add(1)
			for _, id := range []string{"unused", "busy"} {
				if _, ok := tab.Lookup(id); ok {
					t.Errorf("%s session outlived %s", id, tc.ends)
				}
			}
		})
	}
}

func TestMaxLifetimeValidation(t *testing.T) {
	_, err := NewTable(TableConfig{MaxSessions: 1, Timeout: time.Minute, MaxLifetime: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "-1s") {
		t.Errorf("negative max lifetime: %v, want an error naming -1s", err)
	}
}

// Per-upstream counts follow binds, rebinds, deletes and expiry.
func TestSessionsOn(t *testing.T) {
	tab, clock := newClockedTable(t, TableConfig{MaxSessions: 100, Timeout: time.Minute})
	for i := range 5 {
		tab.Bind(fmt.Sprint("a", i), "a")
	}
	tab.Bind("b0", "b")
	tab.Bind("b0", "a") // bound already: no change
	tab.Rebind("a0", "a", "b")
	tab.Rebind("a1", "x", "b") // bound elsewhere: no change
	_, _ = tab.Forget("a2")
	tab.Rebind("gone", "a", "c") // not bound: binds
	if got := fmt.Sprint(countsOf(tab)); got != "map[a:3 b:2 c:1]" {
		t.Fatalf("counts %s, want map[a:3 b:2 c:1]", got)
	}
	if tab.SessionsOn("b") != 2 || tab.SessionsOn("nowhere") != 0 {
		t.Errorf("SessionsOn: b %d, nowhere %d", tab.SessionsOn("b"), tab.SessionsOn("nowhere"))
	}
	clock.now.Add(int64(30 * time.Second))
	tab.Lookup("a3") // keeps a3 alive
	clock.now.Add(int64(45 * time.Second))
	tab.CleanUp()
	if got := fmt.Sprint(countsOf(tab)); got != "map[a:1 b:0 c:0]" {
		t.Errorf("after the others expired: %s, want map[a:1 b:0 c:0]", got)
	}
	_, _ = tab.ForgetAll()
	if got := tab.SessionsOn("a"); got != 0 {
		t.Errorf("after ForgetAll: %d on a", got)
	}
}

func countsOf(tab *Table) map[string]int {
	out := map[string]int{}
	for u, n := range tab.UpstreamCounts() {
		out[u] = n
	}
	return out
}
