package synapse

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The corpus: public Synapse and WSO2 MI configurations that nobody here
// wrote, verbatim, each with its origin in ORIGINS.tsv.
const corpusDir = "testdata/corpus"

// corpusStockFolder is MI's shipped deployment folder, which `caddy synapse
// --dir` reads as a whole.
const corpusStockFolder = corpusDir + "/mi-stock"

// How many corpus files adapt today, and how many of them serve a proxy or
// an API (the others hold only sequences and endpoints that nothing uses,
// which are warned about and not mapped): fewer is a regression. Raise them
// when support grows.
const (
	corpusAdaptedFloor = 126
	corpusServingFloor = 40
)

// corpusFiles lists the corpus files from ORIGINS.tsv, checking that each
// has its origin and that no file lacks one.
func corpusFiles(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpusDir, "ORIGINS.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if lines[0] != "file\trepository\tpath\tcommit\tlicense" {
		t.Fatalf("ORIGINS.tsv header = %q", lines[0])
	}
	var names []string
	listed := map[string]bool{}
	for i, l := range lines[1:] {
		cols := strings.Split(l, "\t")
		if len(cols) != 5 || slices.Contains(cols, "") || len(cols[3]) != 40 {
			t.Fatalf("ORIGINS.tsv line %d: want file, repository, path, 40-digit commit, license: %q", i+2, l)
		}
		names = append(names, cols[0])
		listed[cols[0]] = true
	}
	err = filepath.WalkDir(corpusDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".xml") {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, corpusDir+string(filepath.Separator)))
		if !listed[rel] {
			t.Errorf("%s has no origin in ORIGINS.tsv", rel)
		}
		delete(listed, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for missing := range listed {
		t.Errorf("ORIGINS.tsv lists %s, which is not in the corpus", missing)
	}
	return names
}

// corpusOutcome is what adapting one corpus file or folder gave, and its
// report.
type corpusOutcome struct {
	name      string
	out       []byte
	warnings  []Warning
	err       error
	report    *Report
	reportErr error
	panicked  any
}

func adaptCorpus(name string, read func() ([]File, error)) (o corpusOutcome) {
	o.name = name
	defer func() { o.panicked = recover() }()
	files, err := read()
	if err != nil {
		o.err = err
		return o
	}
	o.out, o.warnings, o.err = Adapt(files, Options{})
	o.report, o.reportErr = NewReport(files, Options{})
	return o
}

// TestCorpus adapts every corpus file on its own, as `caddy adapt --adapter
// synapse` does, and MI's stock folder as `caddy synapse --dir` does; it logs
// what adapts and why the rest is refused. It fails on a panic, a refusal that
// does not name its element, line and column, output that is not JSON, or
// fewer adapted files than corpusAdaptedFloor.
func TestCorpus(t *testing.T) {
	var outcomes []corpusOutcome
	for _, name := range corpusFiles(t) {
		outcomes = append(outcomes, adaptCorpus(name, func() ([]File, error) {
			data, err := os.ReadFile(filepath.Join(corpusDir, filepath.FromSlash(name)))
			return []File{{Name: name, Data: data}}, err
		}))
	}
	outcomes = append(outcomes, adaptCorpus(corpusStockFolder+" (as a folder)", func() ([]File, error) {
		return ReadDeployment(corpusStockFolder)
	}))

	adapted, warned, serving := 0, 0, 0
	reasons := map[string]int{}
	for _, o := range outcomes {
		if o.panicked == nil {
			checkCorpusReport(t, o)
		}
		var e *Error
		switch {
		case o.panicked != nil:
			t.Errorf("%s: panic: %v", o.name, o.panicked)
		case o.err == nil:
			adapted++
			if len(o.warnings) > 0 {
				warned++
			}
			var cfg struct {
				Apps map[string]json.RawMessage `json:"apps"`
			}
			if err := json.Unmarshal(o.out, &cfg); err != nil {
				t.Errorf("%s: the output is not a Caddy config: %v\n%s", o.name, err, o.out)
			}
			if cfg.Apps["http"] != nil {
				serving++
			}
		case !errors.As(o.err, &e) || e.Element == "" || e.Line < 1 || e.Col < 1:
			t.Errorf("%s: refused without naming the element, line and column: %v", o.name, o.err)
		default:
			reasons[refusalReason(e)]++
		}
	}
	var summary strings.Builder
	fmt.Fprintf(&summary, "%d adapted (%d with warnings, %d serving a proxy or API), %d refused, of %d\n",
		adapted, warned, serving, len(outcomes)-adapted, len(outcomes))
	top := slices.SortedFunc(maps.Keys(reasons), func(a, b string) int {
		return cmp.Or(cmp.Compare(reasons[b], reasons[a]), strings.Compare(a, b))
	})
	for _, r := range top[:min(len(top), 25)] {
		fmt.Fprintf(&summary, "%4d  %s\n", reasons[r], r)
	}
	t.Log("corpus:\n" + summary.String())
	if adapted < corpusAdaptedFloor || serving < corpusServingFloor {
		t.Errorf("%d corpus files adapt and %d serve a proxy or API, fewer than the %d and %d that did", adapted, serving, corpusAdaptedFloor, corpusServingFloor)
	}
}

var supportedList = regexp.MustCompile(` \(supported: .*\)| \(only .*\)`)

// refusalReason groups refusals that differ only in names and values.
func refusalReason(e *Error) string {
	msg := supportedList.ReplaceAllString(quotedValue.ReplaceAllString(e.Message, `"…"`), "")
	return "<" + e.Element + ">: " + msg
}

// checkCorpusReport checks an outcome's report against Adapt: it has a
// refusal exactly when Adapt refuses, the first of them Adapt's, and every
// refusal says what to do instead.
func checkCorpusReport(t *testing.T, o corpusOutcome) {
	t.Helper()
	var e *Error
	if o.err != nil && !errors.As(o.err, &e) {
		return // refused before adapting, reading the folder: no report
	}
	if o.reportErr != nil {
		t.Errorf("%s: no report: %v", o.name, o.reportErr)
		return
	}
	var refusals []*Error
	for _, a := range o.report.Artifacts {
		if a.Refused != nil {
			refusals = append(refusals, a.Refused)
			if a.Refused.Hint() == "" {
				t.Errorf("%s: a refusal without a hint: %v", o.name, a.Refused)
			}
		}
	}
	switch {
	case e == nil && len(refusals) > 0:
		t.Errorf("%s adapts, but its report refuses %v", o.name, refusals[0])
	case e != nil && !slices.ContainsFunc(refusals, func(r *Error) bool { return *r == *e }):
		t.Errorf("%s: Adapt refuses %v, which its report does not list", o.name, e)
	}
}
