package synapse

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// Report is what adapting a set of files gives, artifact by artifact: what
// maps, with its warnings, and what is refused, with the reason. Adapt stops
// at the first refusal; a report goes on, so that a user migrating a whole
// deployment sees all of it at once.
type Report struct {
	Artifacts []Artifact
}

// Artifact is one top-level artifact (a proxy, an API, a sequence, an
// endpoint, ...) of a report, or a whole file when the file does not parse.
type Artifact struct {
	File      string // "" for what Synapse adds to a deployment, at no position
	Line, Col int
	Kind      string // the artifact's element; "" for a file that does not parse
	Name      string // its name, or the key of a local entry
	Refused   *Error // nil when the artifact maps
	Warnings  []Warning
}

// NewReport adapts files as Adapt does, but refusing an artifact does not
// stop it: it leaves the refused artifact out and adapts the others again,
// until what remains adapts. An artifact that uses a refused one is then
// refused too, for the name it cannot find. Files need distinct names:
// positions tell which artifact a refusal or warning is in. The error is for
// what no artifact can be blamed for, such as a port out of range.
func NewReport(files []File, opts Options) (*Report, error) {
	r := &Report{}
	var parsed []File
	var artifacts []*Artifact
	for _, f := range files {
		d, err := parse(f)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				return nil, err
			}
			r.Artifacts = append(r.Artifacts, Artifact{File: f.Name, Line: e.Line, Col: e.Col, Refused: e})
			continue
		}
		parsed = append(parsed, f)
		for _, a := range d.artifacts() {
			p := d.pos[a]
			artifacts = append(artifacts, &Artifact{File: f.Name, Line: p.line, Col: p.col, Kind: a.Tag, Name: cmp.Or(a.SelectAttrValue("name", ""), a.SelectAttrValue("key", ""))})
		}
	}
	dropped := map[position]bool{}
	var warnings []Warning
	for {
		var err error
		if len(parsed) > 0 {
			_, warnings, err = adapt(parsed, opts, dropped)
		}
		if err == nil {
			break
		}
		var e *Error
		if !errors.As(err, &e) {
			return nil, err
		}
		blamed := containing(artifacts, e.File, e.Line, e.Col)
		if blamed == nil || blamed.Refused != nil {
			return nil, fmt.Errorf("%w (in no artifact the report can leave out)", err)
		}
		blamed.Refused = e
		dropped[position{file: blamed.File, line: blamed.Line, col: blamed.Col}] = true
	}
	var added *Artifact
	for _, w := range warnings {
		if w.File == "" {
			// The only artifact in no file is Synapse's default main, which
			// adapt adds to a deployment that defines none (defaultMain).
			if added == nil {
				added = &Artifact{Kind: "sequence", Name: "main"}
				artifacts = append(artifacts, added)
			}
			added.Warnings = append(added.Warnings, w)
			continue
		}
		if a := containing(artifacts, w.File, w.Line, w.Col); a != nil && a.Refused == nil {
			a.Warnings = append(a.Warnings, w)
		}
	}
	for _, a := range artifacts {
		r.Artifacts = append(r.Artifacts, *a)
	}
	slices.SortStableFunc(r.Artifacts, func(a, b Artifact) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return r, nil
}

// containing is the artifact of file that starts last at or before line:col:
// artifacts are listed in file order, and an element lies in the artifact
// that starts before it.
func containing(artifacts []*Artifact, file string, line, col int) *Artifact {
	var found *Artifact
	for _, a := range artifacts {
		if a.File == file && (a.Line < line || a.Line == line && a.Col <= col) {
			found = a
		}
	}
	return found
}

// Counts are how many artifacts adapt (of them, with warnings) and how many
// are refused.
func (r *Report) Counts() (mapped, warned, refused int) {
	for _, a := range r.Artifacts {
		switch {
		case a.Refused != nil:
			refused++
		case len(a.Warnings) > 0:
			mapped++
			warned++
		default:
			mapped++
		}
	}
	return mapped, warned, refused
}

// WriteText prints the report: each file, its artifacts with what becomes of
// them, their warnings and refusals with where they are, and the counts.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	file := ""
	for i, a := range r.Artifacts {
		if i == 0 || a.File != file {
			file = a.File
			ew.printf("%s\n", cmp.Or(file, "in no file: what Synapse adds to the deployment"))
		}
		at := ""
		if a.File != "" {
			at = fmt.Sprintf(" at %d:%d", a.Line, a.Col)
		}
		what := "the file"
		if a.Kind != "" {
			what = "<" + a.Kind + ">"
			if a.Name != "" {
				what += fmt.Sprintf(" %q", a.Name)
			}
		}
		switch {
		case a.Refused != nil:
			ew.printf("  %s%s: refused\n", what, at)
			e := a.Refused
			ew.printf("    %d:%d: %s\n", e.Line, e.Col, elementMessage(e.Element, e.Message))
			if h := e.Hint(); h != "" {
				ew.printf("    hint: %s\n", h)
			}
		case len(a.Warnings) > 0:
			ew.printf("  %s%s: adapts, with %s\n", what, at, counted(len(a.Warnings), "warning"))
		default:
			ew.printf("  %s%s: adapts\n", what, at)
		}
		for _, wn := range a.Warnings {
			if wn.File == "" {
				ew.printf("    warning: %s\n", elementMessage(wn.Element, wn.Message))
				continue
			}
			ew.printf("    warning %d:%d: %s\n", wn.Line, wn.Col, elementMessage(wn.Element, wn.Message))
		}
	}
	mapped, warned, refused := r.Counts()
	ew.printf("\n%s: %d adapt (%d of them with warnings), %d refused\n", counted(len(r.Artifacts), "artifact"), mapped, warned, refused)
	return ew.err
}

// counted is "1 thing" or "n things".
func counted(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

func elementMessage(element, message string) string {
	if element == "" {
		return message
	}
	return "<" + element + ">: " + message
}

// errWriter keeps the first write error, so that printing needs no check
// on every line.
type errWriter struct {
	w   io.Writer
	err error
}

func (ew *errWriter) printf(format string, args ...any) {
	if ew.err == nil {
		_, ew.err = fmt.Fprintf(ew.w, format, args...)
	}
}

// ReadFolder reads, for a report, every XML file of a deployment folder: dir
// is synapse-configs/default or a folder holding it, as for ReadDeployment,
// but the files at its top and in every folder are read, of whatever kind,
// so that the report says what becomes of each. Names are relative to dir.
func ReadFolder(dir string) ([]File, error) {
	root := dir
	if nested := filepath.Join(dir, "synapse-configs", "default"); isDir(nested) {
		root = nested
	}
	var names []string
	for _, pattern := range []string{"*.xml", "*/*.xml"} {
		found, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			return nil, err
		}
		names = append(names, found...)
	}
	slices.Sort(names)
	var files []File
	for _, name := range names {
		if isDir(name) {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Name: filepath.ToSlash(rel), Data: data})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no XML files", root)
	}
	return files, nil
}
