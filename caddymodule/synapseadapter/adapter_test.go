package synapseadapter

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	// The modules the adapted configs use: Caddy's standard ones and this
	// plugin's.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/addressing"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/faulthandler"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/policy"
	_ "github.com/soap-affinity/caddy-soap-affinity/caddymodule/soapmatch"
	"github.com/soap-affinity/caddy-soap-affinity/synapse"
)

// synapseGolden lists the synapse package's golden inputs that adapt to JSON.
func synapseGolden(t testing.TB) []string {
	inputs, err := filepath.Glob("../../synapse/testdata/adapt/*.xml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	var ok []string
	for _, in := range inputs {
		if _, err := os.Stat(strings.TrimSuffix(in, ".xml") + ".json"); err == nil {
			ok = append(ok, in)
		}
	}
	return ok
}

// validateCaddyJSON loads the JSON as Caddy would and provisions every module
// of it, without starting a server.
func validateCaddyJSON(t testing.TB, name string, data []byte) {
	t.Helper()
	var cfg caddy.Config
	if err := caddy.StrictUnmarshalJSON(data, &cfg); err != nil {
		t.Fatalf("%s: Caddy cannot read the adapted JSON: %v\n%s", name, err, data)
	}
	if err := caddy.Validate(&cfg); err != nil {
		t.Fatalf("%s: Caddy rejects the adapted JSON: %v\n%s", name, err, data)
	}
}

// TestSynapseAdapterLoadsEveryGolden runs each golden input through the
// registered "synapse" adapter, as `caddy run --adapter synapse` does: the
// result is the golden JSON, and Caddy provisions it.
func TestSynapseAdapterLoadsEveryGolden(t *testing.T) {
	adapter := caddyconfig.GetAdapter("synapse")
	if adapter == nil {
		t.Fatal("no adapter registered as synapse")
	}
	for _, in := range synapseGolden(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			xml, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			// The golden's send-to hosts, as caddy adapt reads them.
			sendTo, err := os.ReadFile(strings.TrimSuffix(in, ".xml") + ".send-to")
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			t.Setenv(envSynapseSendTo, strings.TrimSpace(string(sendTo)))
			out, _, err := adapter.Adapt(xml, map[string]any{"filename": in})
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(in, ".xml") + ".json")
			if err != nil {
				t.Fatal(err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, compact.Bytes()) {
				t.Fatalf("adapter output differs from the golden JSON:\n%s\n%s", out, compact.Bytes())
			}
			validateCaddyJSON(t, in, out)
		})
	}
}

// TestSynapseAdapterWarningsAndErrors checks what `caddy adapt` prints: the
// warnings with file, line and element, errors with line and column.
func TestSynapseAdapterWarningsAndErrors(t *testing.T) {
	adapter := SynapseAdapter{}
	xml, err := os.ReadFile("../../synapse/testdata/adapt/failover.xml")
	if err != nil {
		t.Fatal(err)
	}
	_, warnings, err := adapter.Adapt(xml, map[string]any{"filename": "failover.xml"})
	if err != nil {
		t.Fatal(err)
	}
	want := caddyconfig.Warning{File: "failover.xml", Line: 6, Directive: "failover",
		Message: `column 13: dynamic="false": Caddy goes back to the first endpoint as soon as it is available again, as dynamic failover does`}
	if len(warnings) != 1 || warnings[0] != want {
		t.Fatalf("warnings = %+v, want [%+v]", warnings, want)
	}

	_, _, err = adapter.Adapt([]byte("<proxy name=\"P\">\n  <target>\n    <inSequence><enrich/></inSequence>\n  </target>\n</proxy>\n"), map[string]any{"filename": "p.xml"})
	if err == nil || err.Error() != "p.xml: line 3, column 17: <enrich>: mediator not supported in inSequence (supported: "+synapseSupportedMediators+")\n"+
		"hint: this mediator changes the message, which Caddy does not: keep it in the service, or in an HTTP handler in front of Caddy that does the same" {
		t.Fatalf("error = %v", err)
	}
}

const synapseSupportedMediators = "header, property, sequence, call-template, in, out, filter, switch, call, send, respond, drop, log and makefault (in a faultSequence)"

// TestSynapseAdapterPortsFromEnv moves the servers with SYNAPSE_HTTP_PORT and
// SYNAPSE_HTTPS_PORT, and refuses a value that is no port.
func TestSynapseAdapterPortsFromEnv(t *testing.T) {
	xml, err := os.ReadFile("../../examples/synapse/LoadBalanceProxy.xml")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(envSynapseHTTPPort, "18290")
	t.Setenv(envSynapseHTTPSPort, "18253")
	out, _, err := SynapseAdapter{}.Adapt(xml, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"listen":[":18290"]`, `"listen":[":18253"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted JSON lacks %s:\n%s", want, out)
		}
	}
	t.Setenv(envSynapseHTTPPort, "http")
	if _, _, err := (SynapseAdapter{}).Adapt(xml, nil); err == nil || !strings.Contains(err.Error(), `SYNAPSE_HTTP_PORT="http" is not a port`) {
		t.Fatalf("error = %v", err)
	}
}

// TestSynapseAdapterSendToFromEnv lists the hosts of a <send/> without an
// endpoint in SYNAPSE_SEND_TO, and refuses a value that is no host:port.
func TestSynapseAdapterSendToFromEnv(t *testing.T) {
	xml, err := os.ReadFile("../../synapse/testdata/adapt/send-to.xml")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (SynapseAdapter{}).Adapt(xml, nil); err == nil || !strings.Contains(err.Error(), "send-to option") {
		t.Fatalf("without SYNAPSE_SEND_TO: error = %v, want one naming the option", err)
	}
	t.Setenv(envSynapseSendTo, "localhost:9000,127.0.0.1:9001")
	out, _, err := SynapseAdapter{}.Adapt(xml, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"Host":["localhost:9000"]`, `"dial":"127.0.0.1:9001"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted JSON lacks %s:\n%s", want, out)
		}
	}
	t.Setenv(envSynapseSendTo, "http://localhost:9000")
	if _, _, err := (SynapseAdapter{}).Adapt(xml, nil); err == nil || !strings.Contains(err.Error(), `SYNAPSE_SEND_TO: send-to "http://localhost:9000" is not host:port`) {
		t.Fatalf("error = %v", err)
	}
}

// FuzzSynapseAdapt feeds the adapter any XML, starting from the golden
// inputs and the corpus of public configurations: it never panics, and whatever
// it adapts without an error is JSON that Caddy loads and provisions. The
// HTTPS server's TLS settings (constant, and provisioned by the golden tests)
// are left out: provisioning a certificate authority for every input would
// leave no time to fuzz.
func FuzzSynapseAdapt(f *testing.F) {
	inputs, _ := filepath.Glob("../../synapse/testdata/adapt/*.xml")
	for _, in := range append(inputs, synapseCorpus(f)...) {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, xml []byte) {
		out, _, err := synapse.Adapt([]synapse.File{{Data: xml}}, synapse.Options{})
		if err != nil {
			return
		}
		validateCaddyJSON(t, "fuzz input", withoutTLS(t, out))
	})
}

// withoutTLS drops the tls and pki apps and the servers' TLS policies.
func withoutTLS(t *testing.T, adapted []byte) []byte {
	var cfg struct {
		Apps map[string]json.RawMessage `json:"apps,omitempty"`
	}
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatalf("adapted JSON: %v\n%s", err, adapted)
	}
	delete(cfg.Apps, "tls")
	delete(cfg.Apps, "pki")
	if raw, ok := cfg.Apps["http"]; ok {
		var app struct {
			Servers map[string]map[string]json.RawMessage `json:"servers"`
		}
		if err := json.Unmarshal(raw, &app); err != nil {
			t.Fatal(err)
		}
		for _, srv := range app.Servers {
			delete(srv, "tls_connection_policies")
			srv["automatic_https"] = json.RawMessage(`{"disable":true}`)
		}
		cfg.Apps["http"], _ = json.Marshal(app)
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSynapseAdapterRegistryFromEnv reads registry keys from the folder
// SYNAPSE_REGISTRY names, as `caddy adapt --adapter synapse` does.
func TestSynapseAdapterRegistryFromEnv(t *testing.T) {
	reg := t.TempDir()
	if err := os.MkdirAll(filepath.Join(reg, "governance", "endpoints"), 0o755); err != nil {
		t.Fatal(err)
	}
	ep := `<endpoint xmlns="http://ws.apache.org/ns/synapse"><address uri="http://localhost:9001/svc"/></endpoint>`
	if err := os.WriteFile(filepath.Join(reg, "governance", "endpoints", "E.xml"), []byte(ep), 0o644); err != nil {
		t.Fatal(err)
	}
	proxy := []byte(`<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http"><target endpoint="gov:/endpoints/E.xml"/></proxy>`)
	t.Setenv(envSynapseRegistry, reg)
	out, _, err := SynapseAdapter{}.Adapt(proxy, map[string]any{"filename": "p.xml"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"dial":"localhost:9001"`) {
		t.Errorf("adapted JSON lacks the registry's endpoint:\n%s", out)
	}
	validateCaddyJSON(t, "p.xml", out)
}

// synapseCorpus lists the files of the synapse package's corpus: public
// configurations (see its TestCorpus).
func synapseCorpus(t testing.TB) []string {
	var files []string
	err := filepath.WalkDir("../../synapse/testdata/corpus", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".xml") {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	return files
}

// TestSynapseAdapterLoadsTheCorpus provisions what each corpus file adapts
// to: Caddy loads all of it.
func TestSynapseAdapterLoadsTheCorpus(t *testing.T) {
	adapter := SynapseAdapter{}
	loaded := 0
	for _, p := range synapseCorpus(t) {
		xml, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if out, _, err := adapter.Adapt(xml, map[string]any{"filename": p}); err == nil {
			validateCaddyJSON(t, p, out)
			loaded++
		}
	}
	if loaded == 0 {
		t.Fatal("no corpus file adapts")
	}
	t.Logf("Caddy loads the %d corpus files that adapt", loaded)
}
