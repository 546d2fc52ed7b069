package e2e

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The documentation's commands are read from its pages themselves (README.md
// and docs/*.md), so that the pages and the tests cannot drift apart. The
// convention (docs/demo.md's "Reading the commands and their outputs" says it
// to readers, docs/development.md to writers):
//
//   - A command block that a test runs is fenced as ```sh test=<name>; the
//     second word is ignored by Markdown renderers. <name> names the
//     walkthrough it belongs to, a key of walkthroughPages, and the block
//     lives on that walkthrough's page; a test runs a walkthrough's commands
//     in page order.
//   - The output the page shows for it is the ```text block right after
//     it (nothing but blank lines between). The command's output must match
//     it, except where the page documents variation:
//     "..." stands for text left out (on a line of its own: any number of
//     lines; within a line: any text on that line), and a time (RFC 3339, or
//     an HTTP date) or a urn:uuid: id stands for any of its kind.
//   - A command without such a block must succeed; its test may check more.

// readmeStep is one command of a walkthrough.
type readmeStep struct {
	line    string // page:line of the command's opening fence
	command string
	shown   string // the output the page shows; "" when it shows none
}

var (
	fence       = regexp.MustCompile("^```([^`]*)$")
	commandInfo = regexp.MustCompile(`^sh test=(\S+)$`)
)

// walkthroughPages are the walkthroughs that tests run, each with the page
// (relative to the repository root) that holds its commands; a block fenced
// with another name, or on another page, would be run by none.
var walkthroughPages = map[string]string{
	"demo":       "docs/demo.md",
	"fault":      "docs/soap_fault.md",
	"two-nodes":  "docs/redis.md",
	"admin":      "docs/operating.md",
	"drain":      "docs/operating.md",
	"addressing": "docs/addressing.md",
}

// readmeSteps returns the commands of the walkthrough name, in the order of
// its page. It fails the test if the page has none.
func readmeSteps(t *testing.T, name string) []readmeStep {
	t.Helper()
	page, ok := walkthroughPages[name]
	if !ok {
		t.Fatalf("no walkthrough %q (walkthroughPages)", name)
	}
	type block struct {
		open, close int // line indexes of the fences
		info, text  string
	}
	var blocks []block
	var cur *block
	lines := strings.Split(docPage(t, page), "\n")
	for i, l := range lines {
		m := fence.FindStringSubmatch(l)
		switch {
		case cur == nil && m != nil:
			cur = &block{open: i, info: strings.TrimSpace(m[1])}
		case cur != nil && l == "```":
			cur.close = i
			cur.text = strings.Join(lines[cur.open+1:i], "\n")
			blocks = append(blocks, *cur)
			cur = nil
		}
	}
	var steps []readmeStep
	for i, b := range blocks {
		if m := commandInfo.FindStringSubmatch(b.info); m == nil || m[1] != name {
			continue
		}
		s := readmeStep{line: fmt.Sprintf("%s:%d", page, b.open+1), command: b.text}
		if i+1 < len(blocks) && blocks[i+1].info == "text" &&
			strings.TrimSpace(strings.Join(lines[b.close+1:blocks[i+1].open], "")) == "" {
			s.shown = blocks[i+1].text
		}
		steps = append(steps, s)
	}
	if len(steps) == 0 {
		t.Fatalf("%s has no commands fenced as ```sh test=%s", page, name)
	}
	return steps
}

// readmeCommand returns the one command of the walkthrough name that
// contains text, for a test that runs it its own way (against another
// server than the walkthrough's).
func readmeCommand(t *testing.T, name, text string) string {
	t.Helper()
	var found []string
	for _, s := range readmeSteps(t, name) {
		if strings.Contains(s.command, text) {
			found = append(found, s.command)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d commands of walkthrough %s contain %q, want 1", walkthroughPages[name], len(found), name, text)
	}
	return found[0]
}

// run runs the step's command in the repository root and, if the page
// shows its output, compares the two. It returns the output.
func (s readmeStep) run(t *testing.T) string {
	t.Helper()
	got := bash(t, s.command)
	if s.shown != "" {
		if err := matchShown(s.shown, got); err != nil {
			t.Fatalf("%s: the output of\n%s\n%v", s.line, s.command, err)
		}
	}
	return got
}

// runAll runs every step of the walkthrough in order.
func runAll(t *testing.T, name string) {
	t.Helper()
	for _, s := range readmeSteps(t, name) {
		s.run(t)
	}
}

// placeholder finds what may vary in a shown output: "...", RFC 3339 times,
// HTTP dates, UUIDs.
var placeholder = regexp.MustCompile(`\.\.\.|` +
	`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)|` +
	`(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT|` +
	`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// placeholderPattern is what each kind of placeholder matches.
func placeholderPattern(p string) string {
	switch {
	case p == "...":
		return `[^\n]*`
	case strings.Contains(p, "GMT"):
		return `[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`
	case strings.Contains(p, "T"):
		return `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)`
	default:
		return `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	}
}

// shownPattern turns a shown output into the regular expression of the
// outputs it stands for.
func shownPattern(shown string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, line := range strings.Split(shown, "\n") {
		if strings.TrimSpace(line) == "..." {
			b.WriteString(`(?:[^\n]*\n)*?`)
			continue
		}
		last := 0
		for _, loc := range placeholder.FindAllStringIndex(line, -1) {
			b.WriteString(regexp.QuoteMeta(line[last:loc[0]]))
			b.WriteString(placeholderPattern(line[loc[0]:loc[1]]))
			last = loc[1]
		}
		b.WriteString(regexp.QuoteMeta(line[last:]))
		b.WriteString(`\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

// matchShown tells whether got is an output that shown stands for. Line ends
// are compared as \n, and a missing last line end is forgiven.
func matchShown(shown, got string) error {
	norm := strings.TrimRight(strings.ReplaceAll(got, "\r\n", "\n"), "\n") + "\n"
	if shownPattern(shown).MatchString(norm) {
		return nil
	}
	return fmt.Errorf("is\n%s\nbut the page shows\n%s", norm, shown)
}

// docPage returns a page of the documentation, page being its path from the
// repository root ("README.md", "docs/redis.md"). A missing page fails the
// test.
func docPage(t *testing.T, page string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, page))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// docPages returns README.md and every page under docs/, by path.
func docPages(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no pages under docs/: %v", err)
	}
	pages := map[string]string{"README.md": docPage(t, "README.md")}
	for _, f := range files {
		rel, err := filepath.Rel(repoRoot, f)
		if err != nil {
			t.Fatal(err)
		}
		pages[filepath.ToSlash(rel)] = docPage(t, filepath.ToSlash(rel))
	}
	return pages
}

// requireInDoc fails unless page shows text exactly as the test uses it (a
// command the test runs its own way, a configuration file).
func requireInDoc(t *testing.T, page, text string) {
	t.Helper()
	if !strings.Contains(docPage(t, page), text) {
		t.Fatalf("%s does not show this as the test uses it:\n%s", page, text)
	}
}

// TestShownOutputsMatchOnlyWhatTheyDocument checks the matching rules on
// their own: what may vary does, and nothing else.
func TestShownOutputsMatchOnlyWhatTheyDocument(t *testing.T) {
	for _, c := range []struct {
		shown, got string
		match      bool
	}{
		{"202 localhost:9002\n202 localhost:9002", "202 localhost:9002\n202 localhost:9002\n", true},
		{"202 localhost:9002", "202 localhost:9003\n", false},
		{"202 localhost:9002", "202 localhost:9002\n202 localhost:9002\n", false},
		{"a\n...\nz", "a\nb\nc\nz\n", true},
		{"a\n   ...\nz", "a\nz\n", true},
		{"a\n...\nz", "a\nb\n", false},
		{`{"id":"a",...}`, `{"id":"a","upstream":"x"}`, true},
		{`{"id":"a",...}`, `{"id":"b","upstream":"x"}`, false},
		{`"created":"2026-11-25T10:00:00.1Z"`, `"created":"2027-01-02T03:04:05.123456789Z"`, true},
		{`"created":"2026-11-25T10:00:00.1Z"`, `"created":"soon"`, false},
		{"Date: Wed, 25 Nov 2026 10:00:00 GMT", "Date: Mon, 30 Nov 2026 12:45:01 GMT\r\n", true},
		{"urn:uuid:73212c5b-d14f-41e6-936a-e31ce3cb7181", "urn:uuid:00000000-1111-2222-3333-444444444444", true},
		{"urn:uuid:73212c5b-d14f-41e6-936a-e31ce3cb7181", "urn:uuid:123", false},
		{"a.b", "axb", false},
	} {
		if err := matchShown(c.shown, c.got); (err == nil) != c.match {
			t.Errorf("shown %q, got %q: match %v, want %v", c.shown, c.got, err == nil, c.match)
		}
	}
}

// TestEveryWalkthroughIsRun finds the pages' command blocks that no test
// would run: a misspelt or new walkthrough name, or a block on another page
// than its walkthrough's.
func TestEveryWalkthroughIsRun(t *testing.T) {
	pages := docPages(t)
	names := slices.Sorted(maps.Keys(pages))
	for _, page := range names {
		for i, l := range strings.Split(pages[page], "\n") {
			if m := fence.FindStringSubmatch(l); m != nil && strings.Contains(m[1], "test=") {
				n := commandInfo.FindStringSubmatch(m[1])
				switch {
				case n == nil || walkthroughPages[n[1]] == "":
					t.Errorf("%s:%d fences a block as %q, which no test runs (walkthroughPages: %v)", page, i+1, l, walkthroughPages)
				case walkthroughPages[n[1]] != page:
					t.Errorf("%s:%d: a block of walkthrough %s, whose tests read %s", page, i+1, n[1], walkthroughPages[n[1]])
				}
			}
		}
	}
	// Every walkthrough's page exists and has its blocks: readmeSteps fails
	// otherwise.
	for name := range walkthroughPages {
		readmeSteps(t, name)
	}
}

// TestReadmeNamesTheGoVersionOfGoMod keeps the Go version the README asks for
// equal to go.mod's go line.
func TestReadmeNamesTheGoVersionOfGoMod(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	requireInDoc(t, "README.md", "You need Go "+string(m[1])+" or later")
}
