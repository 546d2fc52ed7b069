package state

import (
	"testing"
	"time"

	"github.com/soap-affinity/caddy-soap-affinity/sessionaffinity"
)

func tableConfig(timeout time.Duration) sessionaffinity.TableConfig {
	return sessionaffinity.TableConfig{MaxSessions: 100, Timeout: timeout}
}

func publish(t *testing.T, l *Lease) *Instance {
	t.Helper()
	i := &Instance{Table: l.Table(), Store: l.Table(), Drains: l.Drains(), Counts: l.Table()}
	l.Publish(i)
	return i
}

// TestReloadHandsTheStateOver: a reload acquires the name before it releases
// the old instance, so the new instance gets the old table (same settings)
// and the drains, and the newest instance stands for the name.
func TestReloadHandsTheStateOver(t *testing.T) {
	old, err := Acquire("handover", tableConfig(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, old)
	old.Table().Bind("s1", "a:1")
	if _, err := old.Drains().Set("a:1", true, time.Time{}); err != nil {
		t.Fatal(err)
	}

	renewed, err := Acquire("handover", tableConfig(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	newest := publish(t, renewed)
	if renewed.Table() != old.Table() {
		t.Fatal("same name and settings: want the same table")
	}
	if _, err := old.Release(); err != nil {
		t.Fatal(err)
	}
	p, ok := Lookup("handover")
	if !ok || p.Newest() != newest {
		t.Fatalf("Lookup: %v, %v; want the new instance", p, ok)
	}
	if up, ok := p.Newest().Table.Lookup("s1"); !ok || up != "a:1" {
		t.Fatalf("session s1 after the reload: %q, %v; want a:1", up, ok)
	}
	if !renewed.Drains().Draining("a:1") {
		t.Fatal("the drain of a:1 was lost in the reload")
	}
	if _, err := renewed.Release(); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup("handover"); ok {
		t.Fatal("the name outlived its last instance")
	}
}

// TestChangedSettingsStartANewTable: while a reload changes the table
// settings, both tables live under the name; the newest instance's stands
// for it, and the old one closes with its last instance.
func TestChangedSettingsStartANewTable(t *testing.T) {
	old, err := Acquire("settings", tableConfig(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, old)
	renewed, err := Acquire("settings", tableConfig(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	publish(t, renewed)
	if renewed.Table() == old.Table() {
		t.Fatal("changed settings: want a new table")
	}
	p, _ := Lookup("settings")
	if got := p.Newest().Table.Config().Timeout; got != 2*time.Minute {
		t.Fatalf("the name shows the table with timeout %s, want the newest's 2m", got)
	}
	if _, err := old.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := renewed.Release(); err != nil {
		t.Fatal(err)
	}
}

// TestBadTableConfigLeavesNothing: a table that cannot be made takes no hold
// on the name.
func TestBadTableConfigLeavesNothing(t *testing.T) {
	if _, err := Acquire("bad", sessionaffinity.TableConfig{MaxSessions: -1, Timeout: time.Minute}); err == nil {
		t.Fatal("max sessions -1: no error")
	}
	if _, ok := Lookup("bad"); ok {
		t.Fatal("a failed Acquire left the name registered")
	}
}
