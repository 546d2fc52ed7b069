package sessionaffinity

import (
	"strconv"
	"testing"
	"time"
)

// A flood of one-off ids (a scan, or a client minting a new id per request)
// must not push out sessions in use: 100 sessions, each used between every
// 1,000 one-off ids, keep their binding through 100,000 of them at
// max_sessions 1000. (With one W-TinyLFU cache, about 90 did.)
func TestTableFloodKeepsHotSessions(t *testing.T) {
	const maxSessions, hot, batches, batch = 1000, 100, 100, 1000
	tab := newTestTable(t, TableConfig{MaxSessions: maxSessions, Timeout: time.Hour})
	hotID := func(i int) string { return "hot-" + strconv.Itoa(i) }
	hotUp := func(i int) string { return "upstream-" + strconv.Itoa(i%3) }
	for i := range hot {
		tab.Bind(hotID(i), hotUp(i))
	}
	for range 3 {
		for i := range hot {
			tab.Lookup(hotID(i))
		}
	}
	for b := range batches {
		for i := range batch {
			tab.Bind("flood-"+strconv.Itoa(b)+"-"+strconv.Itoa(i), "upstream-x")
		}
		for i := range hot {
			tab.Lookup(hotID(i)) // a miss is not re-bound: that would hide an eviction
		}
	}
	tab.CleanUp()
	kept := 0
	for i := range hot {
		if si, ok := tab.Get(hotID(i)); ok && si.Upstream == hotUp(i) {
			kept++
		}
	}
	if n := tab.Len(); n > maxSessions {
		t.Errorf("Len() = %d > %d", n, maxSessions)
	}
	t.Logf("%d of %d hot sessions kept their binding through %d one-off ids", kept, hot, batches*batch)
	if kept < 99 {
		t.Errorf("after a flood of %d one-off ids, %d of %d hot sessions remain bound, want >= 99", batches*batch, kept, hot)
	}
}
