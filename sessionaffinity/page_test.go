package sessionaffinity

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// pageAll pages through tab with q, following the cursors and checking each
// page's size and filter, and returns every id seen, in the order seen. Before
// each page after the first it calls between, if set.
func pageAll(t *testing.T, tab *Table, q PageQuery, between func(page int)) []string {
	t.Helper()
	var seen []string
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatal("paging does not end")
		}
		if pages > 0 && between != nil {
			between(pages)
		}
		page, next, err := tab.Page(q)
		if err != nil {
			t.Fatalf("Page(%+v): %v", q, err)
		}
		if len(page) > q.Limit {
			t.Fatalf("page of %d with limit %d", len(page), q.Limit)
		}
		for _, si := range page {
			if q.Upstream != "" && si.Upstream != q.Upstream {
				t.Fatalf("filter %q let through %+v", q.Upstream, si)
			}
			seen = append(seen, si.ID)
		}
		if next == "" {
			return seen
		}
		q.After = next
	}
}

func sorted(ids []string) []string { return slices.Sorted(slices.Values(ids)) }

func TestPageWalksEverySessionOnce(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10_000, Timeout: time.Hour})
	var all, onB []string
	for i := range 1000 {
		id, up := fmt.Sprintf("s%04d", (i*7919)%1000), "a:1"
		if i%3 == 0 {
			up = "b:2"
			onB = append(onB, id)
		}
		tab.Bind(id, up)
		if i%2 == 0 {
			tab.Lookup(id) // in the kept tier
		}
		all = append(all, id)
	}
	slices.Sort(all)
	slices.Sort(onB)
	order := pageAll(t, tab, PageQuery{Limit: 1000}, nil)
	for _, limit := range []int{1, 7, 100, 999, 1000, 5000} {
		got := pageAll(t, tab, PageQuery{Limit: limit}, nil)
		if !slices.Equal(sorted(got), all) {
			t.Fatalf("limit %d: paged %d ids, want each of the %d bound once", limit, len(got), len(all))
		}
		if !slices.Equal(got, order) {
			t.Fatalf("limit %d: table order differs from one listing to the next", limit)
		}
		if got := pageAll(t, tab, PageQuery{Limit: limit, Upstream: "b:2"}, nil); !slices.Equal(sorted(got), onB) {
			t.Fatalf("limit %d, upstream b:2: paged %d ids, want %d", limit, len(got), len(onB))
		}
	}
	for _, up := range []string{"c:3", "a"} {
		if got := pageAll(t, tab, PageQuery{Limit: 10, Upstream: up}, nil); len(got) != 0 {
			t.Fatalf("upstream %q with no sessions paged %v", up, got)
		}
	}
}

// Sessions bound, used, rebound and removed while a listing pages through do
// not make it skip or repeat the sessions that live throughout.
func TestPageStableWhileTheTableChanges(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 100_000, Timeout: time.Hour})
	var stay []string
	for i := range 3000 {
		id := fmt.Sprintf("s%04d", i)
		tab.Bind(id, "a:1")
		if i%3 != 0 {
			stay = append(stay, id)
		}
	}
	slices.Sort(stay)
	got := pageAll(t, tab, PageQuery{Limit: 50}, func(page int) {
		for i := range 30 {
			n := page*30 + i
			_, _ = tab.Forget(fmt.Sprintf("s%04d", n%3000/3*3)) // never one that stays
			tab.Bind(fmt.Sprintf("new-%d", n), "b:2")
			tab.Lookup(stay[n%len(stay)]) // promotes
			tab.Rebind(stay[(n+7)%len(stay)], "a:1", "a:1")
		}
	})
	var seen []string
	for _, id := range got {
		if !strings.HasPrefix(id, "new-") {
			seen = append(seen, id)
		}
	}
	seen = sorted(seen)
	for _, id := range stay {
		if _, found := slices.BinarySearch(seen, id); !found {
			t.Fatalf("session %s, bound throughout, missing from the listing", id)
		}
	}
	if dup := slices.Compact(slices.Clone(seen)); len(dup) != len(seen) {
		t.Fatalf("listing repeated %d sessions", len(seen)-len(dup))
	}
}

// A filter that few sessions match still pages in bounded steps: pages may
// be short, even empty, while a cursor follows.
func TestPageBoundsItsScan(t *testing.T) {
	const n = 3 * pageScan
	tab := newTestTable(t, TableConfig{MaxSessions: 10 * n, Timeout: time.Hour})
	for i := range n {
		up := "a:1"
		if i%(n/4) == 0 {
			up = "rare:1"
		}
		tab.Bind(fmt.Sprintf("s%06d", i), up)
	}
	pages := 0
	got := pageAll(t, tab, PageQuery{Limit: 100, Upstream: "rare:1"}, func(int) { pages++ })
	if len(got) != 4 || pages < 2 {
		t.Fatalf("rare filter: %d sessions in %d pages, want 4 in several bounded pages", len(got), pages+1)
	}
}

func TestPageRejectsMalformedCursor(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Minute})
	for _, c := range []string{"!!", "zzzzzzzzzzzzzzzzzzzzzzzzz", "1000000000000"} {
		if _, _, err := tab.Page(PageQuery{After: c, Limit: 1}); err == nil || !strings.Contains(err.Error(), c) {
			t.Errorf("Page(After: %q): err = %v, want one naming the cursor", c, err)
		}
	}
}

func TestPageReportsSessionDetails(t *testing.T) {
	tab := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Minute})
	tab.Bind("x", "a:1")
	tab.Lookup("x")
	page, next, err := tab.Page(PageQuery{Limit: 10})
	if err != nil || next != "" || len(page) != 1 {
		t.Fatalf("page %+v next=%q err=%v", page, next, err)
	}
	si := page[0]
	if si.ID != "x" || si.Upstream != "a:1" || si.Requests != 2 ||
		si.Expires.Sub(si.LastUsed).Round(time.Second) != time.Minute {
		t.Fatalf("got %+v", si)
	}
}

// BenchmarkPage is one page of 100 from the middle of a table of a million
// sessions: the cost an admin API listing has.
func BenchmarkPage(b *testing.B) {
	tab := newTestTable(b, TableConfig{MaxSessions: 2_000_000, Timeout: time.Hour})
	for i := range 1_000_000 {
		id := fmt.Sprintf("session-%07d", i)
		tab.Bind(id, "a:1")
		tab.Lookup(id)
	}
	var middle string
	for range 5000 {
		_, middle, _ = tab.Page(PageQuery{After: middle, Limit: 100})
	}
	b.ReportAllocs()
	for b.Loop() {
		if page, _, _ := tab.Page(PageQuery{After: middle, Limit: 100}); len(page) != 100 {
			b.Fatalf("page of %d", len(page))
		}
	}
}
