package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// The README's "Operating it" commands, against the demo.
const (
	opPolicies = `curl -s localhost:2019/soap-affinity/policies`
	opPage1    = `curl -s 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions?limit=2'`
	opPage2    = `cursor=$(curl -s 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions?limit=2' | sed -n 's/.*"next_cursor":"\([^"]*\)".*/\1/p')
curl -s "localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions?limit=2&cursor=$cursor"`
	opFilter    = `curl -s 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions?upstream=localhost:9002'`
	opGet       = `curl -s localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions/lookup -d '{"id":"123"}'`
	opDeleteOne = `curl -s localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions/forget -d '{"id":"123"}'`
	opDrain     = `curl -s -X DELETE 'localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions?upstream=localhost:9002'`
	opDeleteAll = `curl -s -X DELETE localhost:2019/soap-affinity/policies/simple_client_session_srv0_1/sessions`
	opMetrics   = `curl -s localhost:2019/metrics | grep ^caddy_soap_affinity_`
)

type opSession struct {
	ID       string `json:"id"`
	Upstream string `json:"upstream"`
	Requests int    `json:"requests"`
}

type opPage struct {
	Sessions   []opSession `json:"sessions"`
	NextCursor string      `json:"next_cursor"`
}

// runJSON runs a README command and decodes its JSON answer.
func runJSON(t *testing.T, command string, out any) {
	t.Helper()
	requireInReadme(t, command)
	got := bash(t, command)
	if err := json.Unmarshal([]byte(got), out); err != nil {
		t.Fatalf("%s: answer %q: %v", command, got, err)
	}
}

func ids(sessions []opSession) string {
	list := make([]string, len(sessions))
	for i, s := range sessions {
		list[i] = s.ID
	}
	return strings.Join(list, " ")
}

// TestOperatingAsTheReadmeShowsIt runs the demo, sends the walkthrough's
// sessions 123, a, b and c, and then every admin and metrics command of the
// README's "Operating it".
func TestOperatingAsTheReadmeShowsIt(t *testing.T) {
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	bash(t, demoSameSession)
	bash(t, demoNewSessions)

	var policies struct {
		Policies []struct {
			Name     string `json:"name"`
			Sessions int    `json:"sessions"`
		} `json:"policies"`
	}
	runJSON(t, opPolicies, &policies)
	if len(policies.Policies) != 1 || policies.Policies[0].Name != "simple_client_session_srv0_1" || policies.Policies[0].Sessions != 4 {
		t.Fatalf("policies: %+v; want simple_client_session_srv0_1 with 4 sessions", policies)
	}

	var page opPage
	runJSON(t, opPage1, &page)
	if ids(page.Sessions) != "123 a" || page.NextCursor == "" {
		t.Fatalf("first page: %+v; want 123 and a, and a next cursor", page)
	}
	home := map[string]string{}
	for _, s := range page.Sessions {
		home[s.ID] = s.Upstream
	}
	page = opPage{}
	runJSON(t, opPage2, &page)
	if ids(page.Sessions) != "b c" || page.NextCursor != "" {
		t.Fatalf("second page: %+v; want b and c, no next cursor", page)
	}
	for _, s := range page.Sessions {
		home[s.ID] = s.Upstream
	}

	var on9002 []string
	for _, id := range []string{"123", "a", "b", "c"} {
		if home[id] == "localhost:9002" {
			on9002 = append(on9002, id)
		}
	}
	page = opPage{}
	runJSON(t, opFilter, &page)
	if got, want := ids(page.Sessions), strings.Join(on9002, " "); got != want || want == "" {
		t.Fatalf("sessions on localhost:9002: %q; want %q", got, want)
	}

	var s opSession
	runJSON(t, opGet, &s)
	if s.ID != "123" || s.Requests != 4 || s.Upstream != home["123"] {
		t.Fatalf("session 123: %+v; want 4 requests on %s", s, home["123"])
	}

	metrics := func() string {
		requireInReadme(t, opMetrics)
		return bash(t, opMetrics)
	}
	m := metrics()
	for _, line := range []string{
		`caddy_soap_affinity_sessions{policy="simple_client_session_srv0_1"} 4`,
		`caddy_soap_affinity_bindings_total{policy="simple_client_session_srv0_1",upstream="localhost:9002"} ` + strconv.Itoa(len(on9002)),
		`caddy_soap_affinity_requests_without_session_total{policy="simple_client_session_srv0_1"} 0`,
	} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, m)
		}
	}

	deletes := func(command string, want int) {
		t.Helper()
		var d struct{ Deleted int }
		runJSON(t, command, &d)
		if d.Deleted != want {
			t.Fatalf("%s: deleted %d, want %d", command, d.Deleted, want)
		}
	}
	deletes(opDeleteOne, 1)
	left := 3
	if home["123"] != "localhost:9002" {
		deletes(opDrain, len(on9002))
		left -= len(on9002)
	} else {
		deletes(opDrain, len(on9002)-1)
		left -= len(on9002) - 1
	}
	deletes(opDeleteAll, left)
	if m := metrics(); !strings.Contains(m, `caddy_soap_affinity_sessions{policy="simple_client_session_srv0_1"} 0`+"\n") {
		t.Errorf("after deleting all, metrics say:\n%s", m)
	}
}
