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
