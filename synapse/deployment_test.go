package synapse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDeployment lays out files (path: content) under a new folder.
func writeDeployment(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	deployedProxy = `<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target endpoint="E" faultSequence="F"/>
</proxy>
`
	deployedEndpoint = `<endpoint xmlns="http://ws.apache.org/ns/synapse" name="E">
  <address uri="http://localhost:9001/svc"/>
</endpoint>
`
	deployedFault = `<sequence xmlns="http://ws.apache.org/ns/synapse" name="F">
  <makefault version="soap12"><reason value="down"/></makefault>
  <send/>
</sequence>
`
)

// TestReadDeploymentCombinesTheFolders reads a deployment whose artifacts
// refer to each other across files, from MI's server folder.
func TestReadDeploymentCombinesTheFolders(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"synapse-configs/default/proxy-services/P.xml":    deployedProxy,
		"synapse-configs/default/endpoints/E.xml":         deployedEndpoint,
		"synapse-configs/default/sequences/F.xml":         deployedFault,
		"synapse-configs/default/local-entries/.keep":     "",
		"synapse-configs/default/inbound-endpoints/.keep": "",
	})
	files, err := ReadDeployment(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Adapt(files, Options{HTTPPort: 8080, Deployment: true})
	if err != nil || len(warnings) != 2 {
		t.Fatalf("Adapt: %v, warnings %v; want those of Synapse's default main only (its sequence and log)", err, warnings)
	}
	for _, want := range []string{`"listen":[":8080"]`, `"dial":"localhost:9001"`, `"handler":"soap_fault","reason":"down","version":"soap12"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted JSON lacks %s:\n%s", want, out)
		}
	}

	defs, err := Definitions(files)
	if err != nil {
		t.Fatal(err)
	}
	fromDefs, _, err := Adapt([]File{{Name: "synapse.xml", Data: defs}}, Options{HTTPPort: 8080})
	if err != nil || string(fromDefs) != string(out) {
		t.Fatalf("the combined <definitions> adapt to %s (%v), want %s\n%s", fromDefs, err, out, defs)
	}
}

// TestDeploymentWithoutMain: Synapse gives a configuration without a main
// sequence its default one, a log and a drop, which acknowledges what no
// proxy or API takes with 202 and no body. A whole deployment gets it, in
// the JSON and in the combined <definitions>; one with its own main, and a
// file adapted alone, do not.
func TestDeploymentWithoutMain(t *testing.T) {
	files, err := ReadDeployment(writeDeployment(t, map[string]string{
		"proxy-services/P.xml": deployedProxy, "endpoints/E.xml": deployedEndpoint, "sequences/F.xml": deployedFault,
	}))
	if err != nil {
		t.Fatal(err)
	}
	catchAll := `{"handle":[{"handler":"static_response","status_code":202}],"terminal":true}]`
	out, warnings, err := Adapt(files, Options{Deployment: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(out), catchAll); got != 2 {
		t.Errorf("%d servers end with the 202 catch-all, want both:\n%s", got, out)
	}
	if len(warnings) == 0 || warnings[0].File != "" || !strings.Contains(warnings[0].Message, `no sequence named "main" in the deployment: Synapse's default one`) {
		t.Errorf("warnings %v: want the default main's first", warnings)
	}
	defs, err := Definitions(files)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(defs), `<sequence name="main">`) {
		t.Errorf("the combined <definitions> have no default main:\n%s", defs)
	}
	if fromDefs, _, err := Adapt([]File{{Name: "synapse.xml", Data: defs}}, Options{}); err != nil || string(fromDefs) != string(out) {
		t.Errorf("the combined <definitions> adapt to %s (%v), want %s", fromDefs, err, out)
	}
	if alone, _, err := Adapt(files, Options{}); err != nil || strings.Contains(string(alone), catchAll) {
		t.Errorf("without Deployment: %s (%v), want no catch-all", alone, err)
	}

	withMain := append(files, File{Name: "sequences/main.xml", Data: []byte(`<sequence xmlns="http://ws.apache.org/ns/synapse" name="main"><in><respond/></in></sequence>`)})
	out, warnings, err = Adapt(withMain, Options{Deployment: true})
	if err != nil || strings.Contains(string(out), catchAll) || len(warnings) != 0 {
		t.Errorf("a deployment with its main: %s, warnings %v (%v); want its own main only", out, warnings, err)
	}
	if defs, err := Definitions(withMain); err != nil || strings.Count(string(defs), `name="main"`) != 1 {
		t.Errorf("the combined <definitions> of a deployment with its main: %s (%v)", defs, err)
	}
}

// TestReadDeploymentRefuses names the file, line and column of a bad
// artifact, and refuses folders of artifacts it cannot map.
func TestReadDeploymentRefuses(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"proxy-services/P.xml": deployedProxy,
		"sequences/F.xml":      deployedFault,
		"endpoints/E.xml":      "<endpoint name=\"E\">\n  <recipientlist/>\n</endpoint>\n",
	})
	files, err := ReadDeployment(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Adapt(files, Options{})
	want := filepath.Join(dir, "endpoints", "E.xml") + ": line 2, column 3: <recipientlist>: endpoint not supported"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want it to start with %q", err, want)
	}

	dir = writeDeployment(t, map[string]string{"tasks/T.xml": "<task name=\"T\"/>"})
	if _, err := ReadDeployment(dir); err == nil || !strings.Contains(err.Error(), "tasks are not supported") {
		t.Fatalf("error = %v", err)
	}
	if _, err := ReadDeployment(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no artifacts") {
		t.Fatalf("error = %v", err)
	}
	if _, _, err := Adapt(files, Options{HTTPPort: 70000}); err == nil || err.Error() != "port 70000 out of range 1-65535" {
		t.Fatalf("error = %v", err)
	}
}

// TestMalformedXMLNamesTheLine reports where the parser stopped.
func TestMalformedXMLNamesTheLine(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "x.xml: line 1, column 1: no XML element",
		"<proxy name=\"P\">\n  <target>\n": "x.xml: line 3, column 1: malformed XML: unexpected EOF",
		"<proxy name=\"P\"\n  a=b/>":       "x.xml: line 2, column 6: malformed XML: unquoted or missing attribute value in element",
	} {
		_, _, err := Adapt([]File{{Name: "x.xml", Data: []byte(in)}}, Options{})
		if want += "\nhint: " + hintMalformed; err == nil || err.Error() != want {
			t.Errorf("%q: error = %v, want %s", in, err, want)
		}
	}
}

// TestReadDeploymentReadsSynapseXML reads the synapse.xml at the top of the
// folder (Synapse's single-file layout, which MI also reads, in
// ISO-8859-1 and with a taskManager) as the other files.
func TestReadDeploymentReadsSynapseXML(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"synapse.xml": `<?xml version="1.0" encoding="ISO-8859-1"?>
<definitions xmlns="http://ws.apache.org/ns/synapse">
   <taskManager provider="org.wso2.micro.integrator.mediation.ntask.NTaskTaskManager"/>
` + deployedProxy + `</definitions>
`,
		"endpoints/E.xml": deployedEndpoint,
		"sequences/F.xml": deployedFault,
	})
	files, err := ReadDeployment(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Adapt(files, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"/services/P"`) {
		t.Errorf("the proxy of synapse.xml is not served:\n%s", out)
	}
	if len(warnings) != 1 || warnings[0].File != filepath.Join(dir, "synapse.xml") || warnings[0].Element != "taskManager" {
		t.Errorf("warnings = %+v, want one about the taskManager of synapse.xml", warnings)
	}
}

// TestReadDeploymentLocalEntries reads MI's local-entries folder, whose
// entries the other folders' artifacts use by key (here one whose src is a
// file next to it), and its registry.xml, which is warned about rather than
// skipped; the combined <definitions>, adapted from elsewhere, still finds
// the src file.
func TestReadDeploymentLocalEntries(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"proxy-services/P.xml":           deployedProxy,
		"sequences/F.xml":                deployedFault,
		"local-entries/E.xml":            `<localEntry xmlns="http://ws.apache.org/ns/synapse" key="E" src="file:backend.endpoint"/>`,
		"local-entries/backend.endpoint": deployedEndpoint,
		"registry.xml":                   `<registry xmlns="http://ws.apache.org/ns/synapse" provider="org.wso2.micro.integrator.registry.MicroIntegratorRegistry"/>`,
	})
	files, err := ReadDeployment(dir)
	if err != nil {
		t.Fatal(err)
	}
	out, warnings, err := Adapt(files, Options{Deployment: true})
	if err != nil || !strings.Contains(string(out), `"dial":"localhost:9001"`) {
		t.Fatalf("Adapt: %v\n%s", err, out)
	}
	if len(warnings) != 3 || warnings[2].File != filepath.Join(dir, "registry.xml") || warnings[2].Element != "registry" {
		t.Errorf("warnings = %+v, want those of the default main, then one about registry.xml", warnings)
	}
	defs, err := Definitions(files)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := Adapt([]File{{Name: filepath.Join(t.TempDir(), "synapse.xml"), Data: defs}}, Options{})
	if err != nil || string(got) != string(out) {
		t.Fatalf("the combined <definitions> adapt to %s (%v), want %s\n%s", got, err, out, defs)
	}
}
