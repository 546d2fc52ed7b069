package synapse

import (
	"strings"
	"testing"
)

// TestReportGoesOnPastRefusals reports every artifact of a folder: one that
// maps, one refused for its own mediator, one refused for the sequence it
// uses, and a task (in a folder `caddy synapse --dir` refuses), each at its
// position, and a file that does not parse.
func TestReportGoesOnPastRefusals(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"synapse-configs/default/proxy-services/P.xml": deployedProxy,
		"synapse-configs/default/endpoints/E.xml":      deployedEndpoint,
		"synapse-configs/default/sequences/F.xml":      deployedFault,
		"synapse-configs/default/sequences/S.xml":      "<sequence name=\"S\">\n  <xslt key=\"t\"/>\n</sequence>\n",
		"synapse-configs/default/proxy-services/Q.xml": "<proxy name=\"Q\">\n  <target inSequence=\"S\" endpoint=\"E\"/>\n</proxy>\n",
		"synapse-configs/default/tasks/T.xml":          "<task name=\"T\" class=\"org.example.Job\"/>\n",
		"synapse-configs/default/api/broken.xml":       "<api name=\"A\"",
		"synapse-configs/default/api/a.xml/ignored":    "a folder named like a file",
	})
	files, err := ReadFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewReport(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	if err := r.WriteText(&got); err != nil {
		t.Fatal(err)
	}
	const want = `synapse-configs/default/api/broken.xml
  the file at 1:14: refused
    1:14: malformed XML: unexpected EOF
    hint: ` + hintMalformed + `
synapse-configs/default/endpoints/E.xml
  <endpoint> "E" at 1:1: adapts
synapse-configs/default/proxy-services/P.xml
  <proxy> "P" at 1:1: adapts
synapse-configs/default/proxy-services/Q.xml
  <proxy> "Q" at 1:1: refused
    2:3: <target>: no sequence named "S", and no registry folder to look it up in (caddy synapse --registry DIR, or SYNAPSE_REGISTRY)
    hint: ` + hintMissing + `
synapse-configs/default/sequences/F.xml
  <sequence> "F" at 1:1: adapts
synapse-configs/default/sequences/S.xml
  <sequence> "S" at 1:1: refused
    2:3: <xslt>: mediator not supported in sequence "S" (used as inSequence) (supported: ` + supportedMediators + `)
    hint: ` + hintTransform + `
synapse-configs/default/tasks/T.xml
  <task> "T" at 1:1: refused
    1:1: <task>: artifact not supported (supported: proxy, api, sequence, endpoint, template, localEntry, registry)
    hint: ` + hintRuntime + `

7 artifacts: 3 adapt (0 of them with warnings), 4 refused
`
	if got.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", got.String(), want)
	}
	if _, err := NewReport(files, Options{HTTPPort: -1}); err == nil {
		t.Error("a port out of range, which no artifact is to blame for, gives a report")
	}
	if _, err := ReadFolder(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no XML files") {
		t.Errorf("an empty folder: %v", err)
	}
}

// TestReportOfAFolderWithoutMain: reporting a whole deployment that defines
// no main sequence, as `caddy synapse --report` does, shows the default one
// that Synapse adds and `caddy synapse --dir` maps, with its warnings and no
// file or position; a folder with its own main shows only that.
func TestReportOfAFolderWithoutMain(t *testing.T) {
	folder := map[string]string{
		"synapse-configs/default/proxy-services/P.xml": deployedProxy,
		"synapse-configs/default/endpoints/E.xml":      deployedEndpoint,
		"synapse-configs/default/sequences/F.xml":      deployedFault,
	}
	report := func() string {
		t.Helper()
		files, err := ReadFolder(writeDeployment(t, folder))
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReport(files, Options{Deployment: true})
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		if err := r.WriteText(&got); err != nil {
			t.Fatal(err)
		}
		return got.String()
	}
	const want = `in no file: what Synapse adds to the deployment
  <sequence> "main": adapts, with 2 warnings
    warning: <sequence>: no sequence named "main" in the deployment: Synapse's default one (a log and a drop, SynapseConfigurationBuilder) takes what no proxy or API takes, answered 202 with no body
    warning: <log>: not mapped: use Caddy's access logs
synapse-configs/default/endpoints/E.xml
  <endpoint> "E" at 1:1: adapts
synapse-configs/default/proxy-services/P.xml
  <proxy> "P" at 1:1: adapts
synapse-configs/default/sequences/F.xml
  <sequence> "F" at 1:1: adapts

4 artifacts: 4 adapt (1 of them with warnings), 0 refused
`
	if got := report(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
	folder["synapse-configs/default/sequences/main.xml"] = "<sequence xmlns=\"http://ws.apache.org/ns/synapse\" name=\"main\"><in><respond/></in></sequence>\n"
	if got := report(); strings.Contains(got, "in no file") || !strings.Contains(got, "<sequence> \"main\" at 1:1: adapts\n") {
		t.Errorf("a folder with its own main:\n%s", got)
	}
}
