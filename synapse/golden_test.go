package synapse

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/adapt")

// TestGolden adapts every testdata/adapt/NAME.xml and compares the outcome
// with its golden files: NAME.json (the Caddy JSON, indented) or NAME.err
// (the error), and NAME.warnings (one warning a line; absent: none). The
// adapter's options are the defaults, but for the hosts of NAME.send-to.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/adapt/*.xml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".xml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			base := strings.TrimSuffix(in, ".xml")
			out, warnings, err := Adapt([]File{{Data: data}}, goldenOptions(t, base))
			if err != nil {
				checkGolden(t, base+".err", []byte(err.Error()+"\n"))
				if _, statErr := os.Stat(base + ".json"); statErr == nil {
					t.Errorf("%s.json exists but adapting failed", base)
				}
				return
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			pretty.WriteByte('\n')
			checkGolden(t, base+".json", pretty.Bytes())
			var ws strings.Builder
			for _, w := range warnings {
				fmt.Fprintf(&ws, "%d:%d: <%s>: %s\n", w.Line, w.Col, w.Element, w.Message)
			}
			if ws.Len() > 0 || *update {
				checkGolden(t, base+".warnings", []byte(ws.String()))
			} else if _, statErr := os.Stat(base + ".warnings"); statErr == nil {
				t.Errorf("expected the warnings of %s.warnings, got none", base)
			}
		})
	}
}

// goldenOptions are the options a golden input is adapted with.
func goldenOptions(t testing.TB, base string) Options {
	var opts Options
	list, err := os.ReadFile(base + ".send-to")
	if err == nil {
		if opts.SendTo, err = ParseSendTo(string(bytes.TrimSpace(list))); err != nil {
			t.Fatal(err)
		}
	} else if !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return opts
}

func checkGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if len(got) == 0 {
			_ = os.Remove(file)
			return
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (got:\n%s)", err, got)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}
