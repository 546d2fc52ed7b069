package sessionaffinity

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// pageAll pages through tab with q, checking each page's order and size, and
// returns every id seen.
func pageAll(t *testing.T, tab *Table, q PageQuery) []string {
	t.Helper()
	var seen []string
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("paging does not end")
		}
		page, more := tab.Page(q)
		if len(page) > q.Limit || (more && len(page) != q.Limit) {
			t.Fatalf("page of %d (more=%v) with limit %d", len(page), more, q.Limit)
		}
		for i, si := range page {
			if si.ID <= q.After || (i > 0 && si.ID <= page[i-1].ID) {
				t.Fatalf("page after %q out of order at %d: %q", q.After, i, si.ID)
			}
			if q.Upstream != "" && si.Upstream != q.Upstream {
				t.Fatalf("filter %q let through %+v", q.Upstream, si)
			}
			seen = append(seen, si.ID)
		}
		if !more {
			return seen
		}
		q.After = page[len(page)-1].ID
	}
}

func TestPageWalksEverySessionOnceInOrder(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10_000, Timeout: time.Hour})
	var all, onB []string
	for i := range 1000 {
		id, up := fmt.Sprintf("s%04d", (i*7919)%1000), "a:1"
		if i%3 == 0 {
			up = "b:2"
			onB = append(onB, id)
		}
		tab.Bind(id, up)
		all = append(all, id)
	}
	slices.Sort(all)
	slices.Sort(onB)
	for _, limit := range []int{1, 7, 100, 999, 1000, 5000} {
		if got := pageAll(t, tab, PageQuery{Limit: limit}); !slices.Equal(got, all) {
			t.Fatalf("limit %d: paged %d ids, want the %d bound, in order", limit, len(got), len(all))
		}
		if got := pageAll(t, tab, PageQuery{Limit: limit, Upstream: "b:2"}); !slices.Equal(got, onB) {
			t.Fatalf("limit %d, upstream b:2: paged %d ids, want %d", limit, len(got), len(onB))
		}
	}
	if got := pageAll(t, tab, PageQuery{Limit: 10, Upstream: "c:3"}); len(got) != 0 {
		t.Fatalf("upstream with no sessions paged %v", got)
	}
	if got := pageAll(t, tab, PageQuery{Limit: 10, After: "s0994"}); !slices.Equal(got, all[995:]) {
		t.Fatalf("after s0994: %v", got)
	}
}

func TestPageReportsSessionDetails(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Minute})
	tab.Bind("x", "a:1")
	tab.Lookup("x")
	page, more := tab.Page(PageQuery{Limit: 10})
	if more || len(page) != 1 {
		t.Fatalf("page %+v more=%v", page, more)
	}
	si := page[0]
	if si.ID != "x" || si.Upstream != "a:1" || si.Requests != 2 ||
		si.Expires.Sub(si.LastUsed).Round(time.Second) != time.Minute {
		t.Fatalf("got %+v", si)
	}
}

// BenchmarkPage is one page of 100 from a table of a million sessions: the
// cost an admin API listing has.
func BenchmarkPage(b *testing.B) {
	tab := newTestTable(b, TableConfig{MaxSessions: 1_000_000, Timeout: time.Hour})
	for i := range 1_000_000 {
		tab.Bind(fmt.Sprintf("session-%07d", i), "a:1")
	}
	b.ResetTimer()
	for b.Loop() {
		if page, _ := tab.Page(PageQuery{After: "session-0500000", Limit: 100}); len(page) != 100 {
			b.Fatalf("page of %d", len(page))
		}
	}
}
