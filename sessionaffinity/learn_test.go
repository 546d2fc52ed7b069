package sessionaffinity

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// bindRacer is a table that another response changes between the learner's
// Bind and its Rebind: after each Bind the session is bound to raced.
type bindRacer struct {
	*Table
	raced string
}

func (s bindRacer) Bind(id, upstream string) (string, bool) {
	bound, made := s.Table.Bind(id, upstream)
	s.Table.Rebind(id, bound, s.raced)
	return bound, made
}

func TestRouterLearn(t *testing.T) {
	tests := []struct {
		name         string
		bound, raced string // the binding before, and the one a concurrent change makes
		want         LearnOutcome
		wantBound    string
	}{
		{name: "new session", want: Learned, wantBound: "b"},
		{name: "bound there already", bound: "b", want: Learned, wantBound: "b"},
		{name: "issued anew by another upstream", bound: "a", want: Relearned, wantBound: "b"},
		{name: "a concurrent change wins", bound: "a", raced: "c", want: LostRelearn, wantBound: "c"},
		{name: "a concurrent change moves it there first", bound: "a", raced: "b", want: Learned, wantBound: "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour})
			if tc.bound != "" {
				table.Bind("s", tc.bound)
			}
			var store Store = table
			if tc.raced != "" {
				store = bindRacer{Table: table, raced: tc.raced}
			}
			if got := newTestRouter(t, store, RouterConfig{}).learn("s", "b"); got != tc.want {
				t.Errorf("learn = %s, want %s", got, tc.want)
			}
			if bound, _ := table.Lookup("s"); bound != tc.wantBound {
				t.Errorf("bound to %q afterwards, want %q", bound, tc.wantBound)
			}
		})
	}
}

type noted struct {
	id string
	o  LearnOutcome
}

func TestLearnFromHeader(t *testing.T) {
	tests := []struct {
		name    string
		before  map[string]string // bindings before the response
		header  http.Header
		answer  Answer
		want    []noted
		wantMap map[string]string // bindings afterwards, of the ids in before and want
	}{
		{
			name:    "a new client's first response binds its cookie",
			header:  http.Header{"Set-Cookie": {"JSESSIONID=n1; Path=/"}},
			answer:  Answer{Upstream: "b"},
			want:    []noted{{"n1", Learned}},
			wantMap: map[string]string{"n1": "b"},
		},
		{
			name:    "the cookie set again where it is bound: nothing to do",
			before:  map[string]string{"s1": "b"},
			header:  http.Header{"Set-Cookie": {"JSESSIONID=s1"}},
			answer:  Answer{Upstream: "b", Session: "s1", SessionThere: true},
			wantMap: map[string]string{"s1": "b"},
		},
		{
			name:    "renewed after a login: the new id binds, the old one stays until it expires",
			before:  map[string]string{"old": "b"},
			header:  http.Header{"Set-Cookie": {"JSESSIONID=new; Path=/; HttpOnly"}},
			answer:  Answer{Upstream: "b", Session: "old", SessionThere: true},
			want:    []noted{{"new", Learned}},
			wantMap: map[string]string{"old": "b", "new": "b"},
		},
		{
			name:    "failed over: the upstream that issues it anew holds it",
			before:  map[string]string{"s1": "a"},
			header:  http.Header{"Set-Cookie": {"JSESSIONID=s1"}},
			answer:  Answer{Upstream: "b", Session: "s1"},
			want:    []noted{{"s1", Relearned}},
			wantMap: map[string]string{"s1": "b"},
		},
		{
			name:    "a cleared cookie forgets the request's session",
			before:  map[string]string{"s1": "b"},
			header:  http.Header{"Set-Cookie": {"JSESSIONID=; Max-Age=0; Path=/"}},
			answer:  Answer{Upstream: "b", Session: "s1", SessionThere: true},
			want:    []noted{{"s1", Forgotten}},
			wantMap: map[string]string{"s1": ""},
		},
		{
			name:   "a cleared cookie on a request without a session: nothing",
			header: http.Header{"Set-Cookie": {"JSESSIONID=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT"}},
			answer: Answer{Upstream: "b"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := newTestTable(t, TableConfig{MaxSessions: 10, Timeout: time.Hour})
			for id, up := range tc.before {
				table.Bind(id, up)
			}
			src := cookieSource(t, nil, DefaultCookies)
			var got []noted
			newTestRouter(t, table, RouterConfig{}).LearnFromHeader(src, tc.header, tc.answer, func(id string, o LearnOutcome, err error) {
				if err != nil {
					t.Errorf("note: %v", err)
				}
				got = append(got, noted{id, o})
			})
			if !slices.Equal(got, tc.want) {
				t.Errorf("noted %v, want %v", got, tc.want)
			}
			for id, want := range tc.wantMap {
				if bound, _ := table.Get(id); bound.Upstream != want {
					t.Errorf("%s bound to %q, want %q", id, bound.Upstream, want)
				}
			}
		})
	}
}

func TestLearnOutcomeNames(t *testing.T) {
	// The names are the values of the learned_total metric's outcome label.
	var got []string
	for o := Learned; o <= Forgotten; o++ {
		got = append(got, o.String())
	}
	if want := []string{"learned", "relearned", "lost_relearn", "forgotten"}; !slices.Equal(got, want) {
		t.Errorf("outcomes = %q, want %q", got, want)
	}
	if s := LearnOutcome(99).String(); s != "unknown" {
		t.Errorf("LearnOutcome(99) = %q", s)
	}
}

func TestParseSessionType(t *testing.T) {
	for in, want := range map[string]SessionType{"": SessionSimpleClient, "simple_client": SessionSimpleClient, "http": SessionHTTP, "soap": SessionSOAP} {
		if got, err := ParseSessionType(in); err != nil || got != want {
			t.Errorf("ParseSessionType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseSessionType("cookie"); err == nil || !strings.Contains(err.Error(), `"cookie"`) {
		t.Errorf("ParseSessionType(cookie) = %v, want an error naming it", err)
	}
	if SessionSimpleClient.Learned() || !SessionHTTP.Learned() || !SessionSOAP.Learned() {
		t.Error("only http and soap sessions are learned from responses")
	}
}
