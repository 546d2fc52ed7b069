package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoAsTheReadmeShowsIt runs Caddyfile.example with the built binary, as
// the README's Quick start does, and the demo walkthrough of docs/demo.md:
// each command's output is the one the page shows.
func TestDemoAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "README.md", "go run ./cmd/caddy run --config Caddyfile.example")
	requireInDoc(t, "docs/demo.md", "go run ./cmd/caddy run --config Caddyfile.example")
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	runAll(t, "demo")
}

// goldenPages names, for each golden adapt file (by its name), the page that
// shows its Caddyfile and JSON: the reference of its module.
var goldenPages = map[string]string{
	"simple_client_session.txt": "docs/simple_client_session.md",
	"session_http.txt":          "docs/session-types.md",
	"session_soap.txt":          "docs/session-types.md",
	"soap_fault.txt":            "docs/soap_fault.md",
	"redis_store.txt":           "docs/redis.md",
	"redis_lifetime.txt":        "docs/redis.md",
	"operating.txt":             "docs/operating.md",
	"addressing.txt":            "docs/addressing.md",
}

// TestDocsShowTheAdaptGoldens keeps the configuration reference equal to the
// golden adapt files that the Caddy modules' tests check: each is shown,
// Caddyfile and JSON, on its module's page. The goldens are found wherever
// they are under caddymodule/ (testdata/adapt/*.txt).
func TestDocsShowTheAdaptGoldens(t *testing.T) {
	var files []string
	err := filepath.WalkDir(filepath.Join(repoRoot, "caddymodule"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".txt") &&
			filepath.Base(filepath.Dir(path)) == "adapt" && filepath.Base(filepath.Dir(filepath.Dir(path))) == "testdata" {
			files = append(files, path)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			page, ok := goldenPages[filepath.Base(file)]
			if !ok {
				t.Fatalf("%s: no page shows it (goldenPages)", file)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			caddyfile, json, _ := strings.Cut(string(data), "----------\n")
			requireInDoc(t, page, caddyfile)
			requireInDoc(t, page, strings.TrimRight(json, "\n"))
		})
	}
}

// TestReadmeCaddyfileAdapts: the README's Caddyfile example is a valid
// configuration, as the built binary adapts and provisions it.
func TestReadmeCaddyfileAdapts(t *testing.T) {
	blocks := regexp.MustCompile("(?ms)^```caddyfile\n(.*?)^```").FindAllStringSubmatch(docPage(t, "README.md"), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md shows no Caddyfile")
	}
	for _, b := range blocks {
		f := filepath.Join(t.TempDir(), "Caddyfile")
		if err := os.WriteFile(f, []byte(b[1]), 0o600); err != nil {
			t.Fatal(err)
		}
		bash(t, caddyBin+" adapt --validate --adapter caddyfile --config "+f+" >/dev/null")
	}
}
