package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// docs/synapse.md's commands for running Synapse configurations.
const (
	synapseBackends = "go run ./cmd/caddy run --config examples/backends.Caddyfile"
	synapseRun      = "go run ./cmd/caddy run --config examples/synapse/LoadBalanceProxy.xml --adapter synapse"
	synapseHTTPS    = `curl -sk -o /dev/null -w '%{http_code} %header{x-backend}\n' \
  https://localhost:8253/services/LoadBalanceProxy \
  -H 'Content-Type: text/xml;charset=UTF-8' \
  -H 'simpleClientSession: 123' \
  --data-binary @examples/placeOrder.xml`
	synapseFailover = `curl -s -w ' %header{x-backend}\n' http://localhost:8290/test`
	synapseWeighted = `for i in $(seq 12); do
  curl -s -o /dev/null -w '%header{x-backend}\n' \
    http://localhost:8290/services/WeightedLoadBalanceProxy \
    -H 'Content-Type: text/xml;charset=UTF-8' -H 'SOAPAction: urn:getQuote' \
    --data-binary @examples/placeOrder.xml
done | sort | uniq -c`
	synapseDeployment  = "go run ./cmd/caddy synapse --dir examples/synapse/deployment"
	synapseReferences  = "go run ./cmd/caddy synapse --dir examples/synapse/references --registry examples/synapse/references/registry"
	synapseRegistryEnv = `SYNAPSE_REGISTRY=examples/synapse/references/registry go run ./cmd/caddy adapt --config synapse.xml --adapter synapse`
	synapseReport      = "go run ./cmd/caddy synapse --report examples/synapse/migration"
	// A request the backends echo (X-Echo: true), to see the WS-Addressing
	// headers the adapted proxy wrote; the test's own, as the demo sends it.
	synapseEcho = `curl -s -w 'served by %header{x-backend}\n' \
  http://localhost:8290/services/LoadBalanceProxy \
  -H 'Content-Type: text/xml;charset=UTF-8' \
  -H 'simpleClientSession: 123' -H 'X-Echo: true' \
  --data-binary @examples/placeOrder.xml`
	synapsePorts = `SYNAPSE_HTTP_PORT=8080 SYNAPSE_HTTPS_PORT=8443 go run ./cmd/caddy adapt \
  --config examples/synapse/LoadBalanceProxy.xml --adapter synapse | grep -o '"listen":\[[^]]*\]'`
)

// startBackends runs the demo's backends alone, as docs/synapse.md says.
func startBackends(t *testing.T) *caddyProcess {
	t.Helper()
	requireInDoc(t, "docs/synapse.md", synapseBackends)
	return startCaddy(t, "examples/backends.Caddyfile", "localhost:2030")
}

// startSynapse adapts xml with the built binary's synapse adapter, as
// `caddy run --config xml --adapter synapse` does, and runs the result.
func startSynapse(t *testing.T, xml string) *caddyProcess {
	t.Helper()
	out := filepath.Join(t.TempDir(), "adapted.json")
	bash(t, caddyBin+" adapt --config "+xml+" --adapter synapse --validate > "+out)
	return startCaddy(t, out, "localhost:2019")
}

// lines runs command and splits its output into lines.
func lines(t *testing.T, command string) []string {
	t.Helper()
	return strings.Split(strings.TrimSpace(bash(t, command)), "\n")
}

// TestSynapseSampleAsTheReadmeShowsIt runs the WSO2 sample's XML, unchanged,
// on the built binary, in front of the demo's backends, with the demo's
// walkthrough: affinity by the HTTP header and by the SOAP header ClientID,
// urn:placeOrder reaching the backends (they answer 202 to placeOrder only),
// HTTPS on 8253, and the VersionMismatch fault when every backend is down.
func TestSynapseSampleAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "docs/synapse.md", synapseRun)
	backends := startBackends(t)
	startSynapse(t, "examples/synapse/LoadBalanceProxy.xml")
	checkSampleWalkthrough(t, backends)
}

// checkSampleWalkthrough runs the demo's walkthrough against the WSO2 sample
// adapted and running on :8290 and :8253, then stops the backends to see
// the sample's fault.
func checkSampleWalkthrough(t *testing.T, backends *caddyProcess) {
	t.Helper()
	// The demo's commands, from docs/demo.md and docs/soap_fault.md. The
	// page shows the first and the last again, as this test runs them.
	demoSameSession := readmeCommand(t, "demo", "simpleClientSession: 123")
	demoNewSessions := readmeCommand(t, "demo", "for id in a b c")
	demoSOAP11ClientID := readmeCommand(t, "demo", "placeOrder-clientid.xml")
	demoSOAP12ClientID := readmeCommand(t, "demo", "placeOrder-soap12.xml")
	faultWalkthrough := readmeCommand(t, "fault", "curl -si")
	requireInDoc(t, "docs/synapse.md", demoSameSession)
	requireInDoc(t, "docs/synapse.md", faultWalkthrough)

	for name, command := range map[string]string{
		"HTTP header session": demoSameSession,
		"SOAP 1.1 ClientID":   demoSOAP11ClientID,
		"SOAP 1.2 ClientID":   demoSOAP12ClientID,
	} {
		got := lines(t, command)
		for _, l := range got {
			if l != got[0] || !strings.HasPrefix(l, "202 localhost:900") {
				t.Fatalf("%s: got %q, want identical lines '202 localhost:900N'", name, got)
			}
		}
	}
	placed := map[string]bool{}
	for _, l := range lines(t, demoNewSessions) {
		_, b, _ := strings.Cut(l, " ")
		placed[b] = true
	}
	if len(placed) != 3 {
		t.Fatalf("new sessions a, b, c went to %v; want three backends (round robin)", placed)
	}

	// enableAddressing: wsa:To names the endpoint's address (the backend
	// chosen, the endpoint's path), wsa:Action the header mediator's action.
	addressed := regexp.MustCompile(`<wsa:To>http://localhost:900[123]/services/SimpleStockQuoteService</wsa:To>` +
		`<wsa:MessageID>urn:uuid:[0-9a-f-]{36}</wsa:MessageID><wsa:Action>urn:placeOrder</wsa:Action>`)
	if out := bash(t, synapseEcho); !addressed.MatchString(out) {
		t.Fatalf("the backend got\n%s\nwant WS-Addressing headers matching %s", out, addressed)
	}

	// HTTPS, with the same session (the HTTP and HTTPS servers share it).
	requireInDoc(t, "docs/synapse.md", synapseHTTPS)
	session123 := lines(t, demoSameSession)[0]
	if got := strings.TrimSpace(bash(t, synapseHTTPS)); got != session123 {
		t.Fatalf("over HTTPS: %q, want %q", got, session123)
	}

	backends.stop()
	out := strings.ReplaceAll(bash(t, faultWalkthrough), "\r\n", "\n")
	head, body, _ := strings.Cut(out, "\n\n")
	if !strings.HasPrefix(head, "HTTP/1.1 500 ") || !strings.Contains(head, "Content-Type: text/xml; charset=UTF-8") {
		t.Fatalf("with every backend down: %s", head)
	}
	const fault = `<faultcode xmlns:soap11Env="http://schemas.xmlsoap.org/soap/envelope/">soap11Env:VersionMismatch</faultcode><faultstring>COULDN'T SEND THE MESSAGE TO THE SERVER.</faultstring>`
	if !strings.Contains(body, fault) {
		t.Fatalf("with every backend down, the body is not the sample's fault:\n%s", body)
	}
}

// TestSynapseFailoverExample runs examples/synapse/FailoverAPI.xml: the first
// endpoint refuses, the request fails over to the second.
func TestSynapseFailoverExample(t *testing.T) {
	startBackends(t)
	startSynapse(t, "examples/synapse/FailoverAPI.xml")
	requireInDoc(t, "docs/synapse.md", synapseFailover)
	for range 3 {
		out := bash(t, synapseFailover)
		if !strings.Contains(out, "<ns:served_by>localhost:9002</ns:served_by>") || !strings.HasSuffix(out, " localhost:9002\n") {
			t.Fatalf("GET /test: %q, want the getQuoteResponse of localhost:9002", out)
		}
	}
}

// TestSynapseWeightedExample runs examples/synapse/WeightedLoadBalanceProxy.xml:
// twelve requests are shared 2, 4 and 6 by the weights 1, 2 and 3.
func TestSynapseWeightedExample(t *testing.T) {
	startBackends(t)
	startSynapse(t, "examples/synapse/WeightedLoadBalanceProxy.xml")
	requireInDoc(t, "docs/synapse.md", synapseWeighted)
	got := strings.Fields(bash(t, synapseWeighted))
	want := []string{"2", "localhost:9001", "4", "localhost:9002", "6", "localhost:9003"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("weighted shares: %q, want %q", got, want)
	}
}

// TestSynapseDeploymentCommand combines the sample's deployment folder with
// `caddy synapse`: the same JSON as the sample's <definitions>, but for
// Synapse's default main, which the folder, having no main, gets; and with
// --definitions a document that adapts to it too.
func TestSynapseDeploymentCommand(t *testing.T) {
	requireInDoc(t, "docs/synapse.md", synapseDeployment)
	fromDir := decodeJSON(t, bash(t, caddyBin+" synapse --dir examples/synapse/deployment 2>/dev/null"))
	fromFile := decodeJSON(t, bash(t, caddyBin+" adapt --config examples/synapse/LoadBalanceProxy.xml --adapter synapse 2>/dev/null"))
	if got := withoutDefaultMain(t, fromDir); !reflect.DeepEqual(got, fromFile) {
		t.Fatalf("caddy synapse --dir gives, without the default main,\n%v\nbut the sample's definitions adapt to\n%v", got, fromFile)
	}
	warnings := bash(t, caddyBin+" synapse --dir examples/synapse/deployment 2>&1 >/dev/null")
	if !strings.Contains(warnings, `[WARNING] <sequence>: no sequence named "main" in the deployment: Synapse's default one`) {
		t.Fatalf("caddy synapse --dir warns\n%s\nwithout naming the default main", warnings)
	}
	defs := filepath.Join(t.TempDir(), "synapse.xml")
	if err := os.WriteFile(defs, []byte(bash(t, caddyBin+" synapse --dir examples/synapse/deployment --definitions 2>/dev/null")), 0o644); err != nil {
		t.Fatal(err)
	}
	if fromDefs := decodeJSON(t, bash(t, caddyBin+" adapt --config "+defs+" --adapter synapse 2>/dev/null")); !reflect.DeepEqual(fromDefs, fromDir) {
		t.Fatalf("the combined <definitions> adapt to\n%v\nwant\n%v", fromDefs, fromDir)
	}
	if out := bash(t, caddyBin+" synapse --dir examples/synapse/deployment --http-port 18290"); !strings.Contains(out, `":18290"`) {
		t.Fatalf("--http-port 18290 not applied:\n%s", out)
	}
}

// TestSynapseReferencesCommand adapts the sample split as MI projects keep
// it (a local entry, an endpoint template, a sequence in the registry):
// with --registry, and as one <definitions> with SYNAPSE_REGISTRY, the same
// JSON as the sample's <definitions>.
func TestSynapseReferencesCommand(t *testing.T) {
	requireInDoc(t, "docs/synapse.md", synapseReferences)
	requireInDoc(t, "docs/synapse.md", synapseRegistryEnv)
	want := decodeJSON(t, bash(t, caddyBin+" adapt --config examples/synapse/LoadBalanceProxy.xml --adapter synapse 2>/dev/null"))
	fromDir := decodeJSON(t, bash(t, strings.Replace(synapseReferences, "go run ./cmd/caddy", caddyBin, 1)+" 2>/dev/null"))
	if got := withoutDefaultMain(t, fromDir); !reflect.DeepEqual(got, want) {
		t.Fatalf("caddy synapse --registry gives, without the default main,\n%v\nbut the sample's definitions adapt to\n%v", got, want)
	}
	want = fromDir
	defs := filepath.Join(t.TempDir(), "synapse.xml")
	if err := os.WriteFile(defs, []byte(bash(t, caddyBin+" synapse --dir examples/synapse/references --definitions 2>/dev/null")), 0o644); err != nil {
		t.Fatal(err)
	}
	env := strings.Replace(strings.Replace(synapseRegistryEnv, "go run ./cmd/caddy", caddyBin, 1), "synapse.xml", defs, 1)
	if got := decodeJSON(t, bash(t, env+" 2>/dev/null")); !reflect.DeepEqual(got, want) {
		t.Fatalf("SYNAPSE_REGISTRY with the combined <definitions> gives\n%v\nwant\n%v", got, want)
	}
}

// TestSynapsePortsAsTheReadmeShowsIt moves the servers with the environment.
func TestSynapsePortsAsTheReadmeShowsIt(t *testing.T) {
	requireInDoc(t, "docs/synapse.md", synapsePorts)
	out := bash(t, strings.Replace(synapsePorts, "go run ./cmd/caddy", caddyBin, 1))
	const want = "\"listen\":[\":8080\"]\n\"listen\":[\":8443\"]\n"
	if out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	requireInDoc(t, "docs/synapse.md", want)
}

// withoutDefaultMain is cfg, adapted from a deployment folder without a
// main sequence, without the last route of each server: that of Synapse's
// default main, a 202 to any request, which it must be. cfg is left as it
// is.
func withoutDefaultMain(t *testing.T, cfg any) any {
	t.Helper()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = decodeJSON(t, string(data))
	defaultMain := decodeJSON(t, `{"handle":[{"handler":"static_response","status_code":202}],"terminal":true}`)
	servers := cfg.(map[string]any)["apps"].(map[string]any)["http"].(map[string]any)["servers"].(map[string]any)
	for name, s := range servers {
		routes := s.(map[string]any)["routes"].([]any)
		if len(routes) == 0 || !reflect.DeepEqual(routes[len(routes)-1], defaultMain) {
			t.Fatalf("server %s does not end with the default main's route:\n%v", name, routes)
		}
		s.(map[string]any)["routes"] = routes[:len(routes)-1]
	}
	return cfg
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return v
}

// TestSynapseSendToOption adapts Synapse sample 1, whose main sends what it
// does not filter to the message's To, with the built binary: refused
// without the hosts, naming the option; `caddy synapse --send-to` and
// SYNAPSE_SEND_TO for `caddy adapt` give the same JSON, routing to the host
// listed only.
func TestSynapseSendToOption(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile(filepath.Join(repoRoot, "synapse/testdata/adapt/synapse-sample-1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "synapse.xml"), sample, 0o644); err != nil {
		t.Fatal(err)
	}
	refused := bash(t, caddyBin+" synapse --dir "+dir+" 2>&1 || true")
	if !strings.Contains(refused, "<send>: without an endpoint Synapse sends to the message's To address: list the hosts it may reach with the adapter's send-to option (caddy synapse --send-to host:port,...") {
		t.Fatalf("without --send-to: %s", refused)
	}
	fromDir := decodeJSON(t, bash(t, caddyBin+" synapse --dir "+dir+" --send-to localhost:9000 2>/dev/null"))
	fromEnv := decodeJSON(t, bash(t, "SYNAPSE_SEND_TO=localhost:9000 "+caddyBin+" adapt --config "+filepath.Join(dir, "synapse.xml")+" --adapter synapse 2>/dev/null"))
	if !reflect.DeepEqual(fromDir, fromEnv) {
		t.Fatalf("caddy synapse --send-to gives\n%v\nbut SYNAPSE_SEND_TO with caddy adapt\n%v", fromDir, fromEnv)
	}
	if out, _ := json.Marshal(fromDir); !strings.Contains(string(out), `"header":{"Host":["localhost:9000"]}`) {
		t.Fatalf("no route for the listed host:\n%s", out)
	}
	// Caddy logs the error as JSON, its quotes escaped.
	if bad := bash(t, caddyBin+" synapse --dir "+dir+" --send-to http://localhost:9000 2>&1 || true"); !strings.Contains(bad, `--send-to: send-to \"http://localhost:9000\" is not host:port`) {
		t.Fatalf("a bad --send-to: %s", bad)
	}
}

// TestSynapseReportAsTheDocsShowIt runs `caddy synapse --report` on the
// docs' migration folder: its output is the page's, refusals and all, with
// exit status 0; a folder it cannot read fails, naming it.
func TestSynapseReportAsTheDocsShowIt(t *testing.T) {
	requireInDoc(t, "docs/synapse.md", synapseReport)
	out := bash(t, strings.Replace(synapseReport, "go run ./cmd/caddy", caddyBin, 1))
	requireInDoc(t, "docs/synapse.md", "```text\n"+out+"```")

	empty := t.TempDir()
	failed, err := exec.Command(caddyBin, "synapse", "--report", empty).CombinedOutput()
	if err == nil || !strings.Contains(string(failed), empty+": no XML files") {
		t.Fatalf("--report on an empty folder: %v\n%s", err, failed)
	}
	both, err := exec.Command(caddyBin, "synapse", "--report", empty, "--dir", empty).CombinedOutput()
	if err == nil || !strings.Contains(string(both), "--dir and --report go alone") {
		t.Fatalf("--report with --dir: %v\n%s", err, both)
	}
}

// MI's shipped deployment folder: its files, verbatim, are in the synapse
// package's corpus; the folders it ships empty (holding an empty.txt) are
// made here.
const (
	miStockFiles   = "synapse/testdata/corpus/mi-stock/synapse-configs/default"
	sampleDeployed = "examples/synapse/deployment/synapse-configs/default"
)

var miStockEmptyFolders = []string{"imports", "inbound-endpoints", "local-entries", "proxy-services"}

// TestSynapseMIStockFolderWithTheSample drops the WSO2 sample's
// LoadBalanceProxy and errorHandler into MI's stock deployment folder, as a
// user of MI does, adapts MI's repository/deployment/server with `caddy
// synapse --dir`, and runs the demo's walkthrough on what it gives.
func TestSynapseMIStockFolderWithTheSample(t *testing.T) {
	server := filepath.Join(t.TempDir(), "server")
	deployed := filepath.Join(server, "synapse-configs", "default")
	if err := os.CopyFS(deployed, os.DirFS(filepath.Join(repoRoot, miStockFiles))); err != nil {
		t.Fatal(err)
	}
	for _, folder := range miStockEmptyFolders {
		if err := os.MkdirAll(filepath.Join(deployed, folder), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(deployed, folder, "empty.txt"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"proxy-services/LoadBalanceProxy.xml", "sequences/errorHandler.xml"} {
		data, err := os.ReadFile(filepath.Join(repoRoot, sampleDeployed, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(deployed, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	adapted := filepath.Join(t.TempDir(), "adapted.json")
	bash(t, caddyBin+" synapse --dir "+server+" > "+adapted)
	backends := startBackends(t)
	startCaddy(t, adapted, "localhost:2019")
	checkSampleWalkthrough(t, backends)
}
