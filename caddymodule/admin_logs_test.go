package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminKeepsSessionIDsOutOfLogs runs every admin call that concerns one
// session (lookup, forget, a failed lookup, paging with a cursor) after
// SOAP-keyed requests, with Caddy's whole log (its admin logger's "received
// request" lines included) in a file at INFO and at DEBUG: the ids never
// appear in it.
func TestAdminKeepsSessionIDsOutOfLogs(t *testing.T) {
	for _, level := range []string{"INFO", "DEBUG"} {
		t.Run(level, func(t *testing.T) {
			secret := "sess-c41d-" + level // ids read from the SOAP header: Caddy never logs them
			bs := startBackends(t, 2)
			logFile := filepath.Join(t.TempDir(), "caddy.log")
			initCaddy(t, testConfigWith(fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel %s\n\t}", logFile, level),
				fmt.Sprintf("\treverse_proxy %s {\n\t\tlb_policy simple_client_session {\n\t\t\tname logs\n\t\t}\n\t}", addrs(bs))))
			ids := []string{secret + "-a", secret + "-b", secret + "-c"}
			for _, id := range ids {
				servedBy(t, soapRequest("1.1", id), 2)
			}

			var page sessionList
			adminOK(t, http.MethodGet, "/soap-affinity/policies/logs/sessions?limit=1", &page)
			if page.NextCursor == "" {
				t.Fatal("no next_cursor with 3 sessions and limit 1")
			}
			adminOK(t, http.MethodGet, "/soap-affinity/policies/logs/sessions?limit=1&cursor="+url.QueryEscape(page.NextCursor), &page)
			var s struct{ ID string }
			if oneSession(t, "lookup", "logs", ids[1], &s); s.ID != ids[1] {
				t.Fatalf("lookup of %s found %+v", ids[1], s)
			}
			var d deleted
			if oneSession(t, "forget", "logs", ids[1], &d); d.Deleted != 1 {
				t.Fatalf("forget of %s answered %+v", ids[1], d)
			}
			oneSessionError(t, "lookup", "logs", ids[1], http.StatusNotFound, "no such session")
			oneSessionError(t, "forget", "logs", ids[1], http.StatusNotFound, "no such session")

			data, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatalf("reading Caddy's log: %v", err)
			}
			log := string(data)
			for _, want := range []string{`"msg":"received request"`, `"msg":"session deleted"`, `"msg":"request error"`} {
				if !strings.Contains(log, want) {
					t.Errorf("no %s line in the log: the test does not see the admin logs", want)
				}
			}
			if strings.Contains(log, secret) {
				for line := range strings.Lines(log) {
					if strings.Contains(line, secret) {
						t.Errorf("a session id in the log: %s", line)
					}
				}
			}
		})
	}
}
