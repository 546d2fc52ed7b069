package sessionaffinity

import "slices"

// PageQuery selects one page of sessions, in order of id.
type PageQuery struct {
	// After is the last id of the previous page ("" for the first page): the
	// page holds ids greater than it.
	After string
	// Upstream, if set, keeps only the sessions bound to that upstream key.
	Upstream string
	// Limit is the most sessions on the page; at least 1.
	Limit int
}

// Page returns the sessions matching q with the smallest ids greater than
// q.After, in order of id, and whether more follow. It walks the whole table
// once but holds no more than 2*Limit ids at a time, so a page of a table of a
// million sessions costs O(n log Limit) time and O(Limit) memory. Sessions
// bound, rebound or removed while it runs may or may not appear.
func (t *Table) Page(q PageQuery) (page []SessionInfo, more bool) {
	limit := max(q.Limit, 1)
	keep := limit + 1 // one more than the page, to tell whether more follow
	ids := make([]string, 0, 2*keep)
	var bound string // once ids held keep ids: the largest of them
	full := false
	for id, s := range t.sessions() {
		if id <= q.After || (full && id >= bound) || (q.Upstream != "" && s.upstream != q.Upstream) {
			continue
		}
		ids = append(ids, id)
		if len(ids) == cap(ids) {
			slices.Sort(ids)
			// A session moving between tiers may be seen in both.
			if ids = slices.Compact(ids); len(ids) < keep {
				continue
			}
			ids = ids[:keep]
			bound, full = ids[keep-1], true
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > limit {
		ids, more = ids[:limit], true
	}
	page = make([]SessionInfo, 0, len(ids))
	for _, id := range ids {
		if si, ok := t.Get(id); ok {
			page = append(page, si)
		}
	}
	return page, more
}
