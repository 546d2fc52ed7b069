package sessionaffinity

import (
	"fmt"
	"strconv"
)

// PageQuery selects one page of sessions, in table order.
type PageQuery struct {
	// After is the cursor the previous page returned ("" for the first page).
	After string
	// Upstream, if set, keeps only the sessions bound to that upstream key.
	Upstream string
	// Limit is the most sessions on the page; at least 1.
	Limit int
}

// pageScan bounds the sessions one page looks at, so that a page with a
// rare upstream filter costs no more than one without.
const pageScan = 1 << 16

// Page returns up to q.Limit sessions from where q.After points, in table
// order, and the cursor of the next page ("" after the last one). A page may
// hold fewer sessions than the limit, even none, and still have a next one
// (a filter that few sessions match): follow the cursors until there is none.
//
// Table order is the order of the places sessions occupy in the table, which
// a session keeps for its life (a second request or a rebind does not move
// it). A walk through every page therefore yields each session that lives
// throughout it exactly once; one bound or removed meanwhile may or may not
// appear. A page costs O(Limit) memory and looks at no more than 65,536
// places, however large the table.
func (t *Table) Page(q PageQuery) (page []SessionInfo, next string, err error) {
	var from position
	if q.After != "" {
		if from, err = t.parsePosition(q.After); err != nil {
			return nil, "", err
		}
	}
	u := int64(noUpstream)
	if q.Upstream != "" {
		i, ok := t.upstreams.lookup(q.Upstream)
		if !ok {
			return []SessionInfo{}, "", nil
		}
		u = int64(i)
	}
	page, to := t.scan(from, u, max(q.Limit, 1), pageScan)
	if to.shard < len(t.shards) {
		next = to.String()
	}
	return page, next, nil
}

// position is a place in the table: a shard and a ref in it.
type position struct {
	shard int
	ref   uint32
}

func (p position) String() string {
	return strconv.FormatUint(uint64(p.shard)<<32|uint64(p.ref), 36)
}

func (t *Table) parsePosition(s string) (position, error) {
	v, err := strconv.ParseUint(s, 36, 64)
	if err != nil || int(v>>32) >= len(t.shards) {
		return position{}, fmt.Errorf("malformed page cursor %q", s)
	}
	return position{shard: int(v >> 32), ref: uint32(v)}, nil
}

const noUpstream = -1

// scan collects up to limit live sessions from position p on (bound to
// upstream index u unless it is noUpstream), looking at no more than budget
// places, and returns them with the position to go on from.
func (t *Table) scan(p position, u int64, limit, budget int) ([]SessionInfo, position) {
	page := make([]SessionInfo, 0, min(limit, 128))
	now := t.now()
	for ; p.shard < len(t.shards); p = (position{shard: p.shard + 1}) {
		s := &t.shards[p.shard]
		s.mu.Lock()
		p.ref = max(p.ref, 1)
		for ; p.ref < s.next && len(page) < limit && budget > 0; p.ref++ {
			budget--
			e := s.at(p.ref)
			if e.id == "" || t.expired(e, now) || (u != noUpstream && int64(e.upstream()) != u) {
				continue
			}
			page = append(page, t.info(e))
		}
		end := p.ref >= s.next
		s.mu.Unlock()
		if !end {
			return page, p
		}
		if len(page) == limit || budget == 0 {
			return page, position{shard: p.shard + 1}
		}
	}
	return page, p
}
