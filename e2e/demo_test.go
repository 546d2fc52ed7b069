package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoAsTheReadmeShowsIt runs Caddyfile.example with the built binary, as
// the README's Quick start does, and the README's demo walkthrough: each
// command's output is the one the README shows.
func TestDemoAsTheReadmeShowsIt(t *testing.T) {
	requireInReadme(t, "go run ./cmd/caddy run --config Caddyfile.example")
	startCaddy(t, "Caddyfile.example", "localhost:2019")
	runAll(t, "demo")
}

// TestReadmeShowsTheAdaptGoldens keeps the README's configuration reference
// equal to the golden adapt files that caddymodule's tests check.
func TestReadmeShowsTheAdaptGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot, "caddymodule", "testdata", "adapt", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		caddyfile, json, _ := strings.Cut(string(data), "----------\n")
		requireInReadme(t, caddyfile)
		requireInReadme(t, strings.TrimRight(json, "\n"))
	}
}
