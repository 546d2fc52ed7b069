package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const policyLogger = "http.reverse_proxy.selection_policies.simple_client_session"

// sessionHeaderFilter is docs/simple_client_session.md's log filter that keeps the session header
// out of Caddy's own lines (reverse_proxy's debug lines log request headers).
const sessionHeaderFilter = `
		format filter {
			request>headers>Simpleclientsession delete
		}`

// TestSessionIDsStayOutOfLogs runs traffic (binding, SOAP peek, rebinding
// after a failed upstream) with distinctive session ids and Caddy's log at
// DEBUG. The policy's lines never carry an id unless log_session_ids; Caddy's
// own debug lines log request headers, so an id sent in an HTTP header shows
// there unless the log filters that header, as docs/simple_client_session.md
// shows.
func TestSessionIDsStayOutOfLogs(t *testing.T) {
	if doc, err := os.ReadFile("../docs/simple_client_session.md"); err != nil || !strings.Contains(string(doc), sessionHeaderFilter) {
		t.Fatalf("docs/simple_client_session.md does not show the log filter this test runs (%v):%s", err, sessionHeaderFilter)
	}
	for _, tc := range []struct {
		name, format, policy string
		policyIDs, anyIDs    bool // ids in the policy's lines, anywhere
	}{
		{"default", "", "", false, true},
		{"filtered", sessionHeaderFilter, "", false, false},
		{"filtered_log_session_ids", sessionHeaderFilter, "{\n\t\t\tlog_session_ids\n\t\t}", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := "sess-7f3a9c1e-" + tc.name // new to the table, which outlives the subtest
			bs := startBackends(t, 3)
			logFile := filepath.Join(t.TempDir(), "caddy.log")
			initCaddy(t, testConfigWith(fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG%s\n\t}", logFile, tc.format),
				fmt.Sprintf("\treverse_proxy %s {\n\t\tlb_policy simple_client_session %s\n\t\tlb_retries 2\n\t\tfail_duration 30s\n\t}", addrs(bs), tc.policy)))

			home := servedBy(t, withSession(secret), 2)[0]
			servedBy(t, soapRequest("1.1", secret+"-soap"), 2)
			for _, b := range bs {
				if b.name == home {
					b.Stop() // the next request rebinds the session
				}
			}
			servedBy(t, withSession(secret), 1)

			data, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatalf("reading Caddy's log: %v", err)
			}
			var policyLines []string
			for line := range strings.Lines(string(data)) {
				var entry struct{ Logger string }
				if json.Unmarshal([]byte(line), &entry) == nil && entry.Logger == policyLogger {
					policyLines = append(policyLines, line)
				}
			}
			policyLog := strings.Join(policyLines, "")
			for _, msg := range []string{"session bound", "session rebound", "looked for session id in SOAP header"} {
				if !strings.Contains(policyLog, msg) {
					t.Errorf("the policy logged no %q line: the test does not see its logs", msg)
				}
			}
			if got := strings.Contains(policyLog, secret); got != tc.policyIDs {
				t.Errorf("session ids in the policy's lines: %v, want %v", got, tc.policyIDs)
			}
			if got := strings.Contains(string(data), secret); got != tc.anyIDs {
				t.Errorf("session ids anywhere in the log: %v, want %v", got, tc.anyIDs)
			}
		})
	}
}
