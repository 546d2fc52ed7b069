package synapse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLocalEntrySrc reads a local entry's src, a file: path relative to the
// file that holds the entry, and reports errors at their line in that file.
func TestLocalEntrySrc(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"synapse.xml": `<definitions xmlns="http://ws.apache.org/ns/synapse">
  <localEntry key="backend" src="file:resources/backend.xml"/>
  <proxy name="P" transports="http"><target endpoint="backend"/></proxy>
</definitions>
`,
		"resources/backend.xml": deployedEndpoint,
	})
	main := filepath.Join(dir, "synapse.xml")
	data, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := Adapt([]File{{Name: main, Data: data}}, Options{})
	if err != nil || !strings.Contains(string(out), `"dial":"localhost:9001"`) {
		t.Fatalf("Adapt: %v\n%s", err, out)
	}

	backend := filepath.Join(dir, "resources", "backend.xml")
	if err := os.WriteFile(backend, []byte("<endpoint>\n  <address uri=\"ftp://x/\"/>\n</endpoint>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = Adapt([]File{{Name: main, Data: data}}, Options{})
	if want := backend + ": line 2, column 3: <address>: uri \"ftp://x/\""; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %v, want it to start with %q", err, want)
	}
	device := []File{{Name: main, Data: []byte(strings.Replace(string(data), "file:resources/backend.xml", "file:/dev/zero", 1))}}
	if _, _, err := Adapt(device, Options{}); err == nil || !strings.Contains(err.Error(), "/dev/zero is not a regular file") {
		t.Errorf("error = %v, want /dev/zero refused", err)
	}
	if err := os.Remove(backend); err != nil {
		t.Fatal(err)
	}
	_, _, err = Adapt([]File{{Name: main, Data: data}}, Options{})
	if want := main + ": line 2, column 3: <localEntry>: src file:resources/backend.xml: no file " + backend; err == nil || !strings.HasPrefix(err.Error(), want+"\nhint: ") {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestRegistryKeys resolves conf:, gov: and plain keys in a registry folder
// laid out as MI's (config, governance), and refuses keys it cannot find or
// that lead out of the folder.
func TestRegistryKeys(t *testing.T) {
	reg := writeDeployment(t, map[string]string{
		"governance/endpoints/E.xml": deployedEndpoint,
		"config/sequences/F.xml":     deployedFault,
		"governance/headers/H.xml":   `<sequence xmlns="http://ws.apache.org/ns/synapse"><header name="X-From" scope="transport" value="registry"/></sequence>`,
	})
	proxy := func(endpoint, fault string) []File {
		return []File{{Name: "p.xml", Data: []byte(`<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target endpoint="` + endpoint + `" faultSequence="` + fault + `">
    <inSequence><sequence key="headers/H.xml"/></inSequence>
  </target>
</proxy>
`)}}
	}
	out, _, err := Adapt(proxy("gov:/endpoints/E.xml", "conf:/sequences/F.xml"), Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dial":"localhost:9001"`, `"reason":"down"`, `"X-From":["registry"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("adapted JSON lacks %s:\n%s", want, out)
		}
	}
	for _, tc := range []struct{ endpoint, want string }{
		{"gov:/endpoints/Missing.xml", `p.xml: line 2, column 3: <endpoint>: no endpoint named "gov:/endpoints/Missing.xml", and registry key "gov:/endpoints/Missing.xml": no file ` + filepath.Join(reg, "governance", "endpoints", "Missing.xml")},
		{"gov:/../config/sequences/F.xml", `p.xml: line 2, column 3: <endpoint>: registry key "gov:/../config/sequences/F.xml" points outside the registry folder`},
		{"conf:/sequences/F.xml", `p.xml: line 2, column 3: <endpoint>: registry resource "conf:/sequences/F.xml" holds <sequence>, not an endpoint`},
	} {
		if _, _, err := Adapt(proxy(tc.endpoint, "conf:/sequences/F.xml"), Options{Registry: reg}); err == nil || !strings.HasPrefix(err.Error(), tc.want+"\nhint: ") {
			t.Errorf("%s: error = %v, want %s", tc.endpoint, err, tc.want)
		}
	}
	_, _, err = Adapt(proxy("gov:/endpoints/E.xml", "conf:/sequences/F.xml"), Options{})
	if want := `p.xml: line 3, column 17: <sequence>: no sequence named "headers/H.xml", and no registry folder to look it up in`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want it to contain %q", err, want)
	}
}

// TestWSDLFile reads a wsdl endpoint's WSDL from a local file, relative to
// the endpoint's file, and takes its soap12:address.
func TestWSDLFile(t *testing.T) {
	dir := writeDeployment(t, map[string]string{
		"wsdl/quote.wsdl": `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/">
  <service name="Quote"><port name="Soap12"><soap12:address location="http://localhost:9002/quote"/></port></service>
</definitions>`,
	})
	proxy := `<proxy xmlns="http://ws.apache.org/ns/synapse" name="P" transports="http">
  <target><endpoint><wsdl uri="file:wsdl/quote.wsdl" service="Quote" port="%s"/></endpoint></target>
</proxy>`
	name := filepath.Join(dir, "p.xml")
	out, warnings, err := Adapt([]File{{Name: name, Data: []byte(strings.ReplaceAll(proxy, "%s", "Soap12"))}}, Options{})
	if err != nil || !strings.Contains(string(out), `"dial":"localhost:9002"`) {
		t.Fatalf("Adapt: %v\n%s", err, out)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0].Message, `the port's SOAP version (soap12): the message is sent as it came`) {
		t.Errorf("warnings = %+v, want one about format soap12", warnings)
	}
	_, _, err = Adapt([]File{{Name: name, Data: []byte(strings.ReplaceAll(proxy, "%s", "Soap11"))}}, Options{})
	if want := name + `: line 2, column 21: <wsdl>: the WSDL has no service "Quote" with a port "Soap11"`; err == nil || !strings.HasPrefix(err.Error(), want+"\nhint: ") {
		t.Errorf("error = %v, want %s", err, want)
	}
}

// TestRegistryRegRoot reads registry keys from the RegRoot of a top-level
// <registry>, unless the adapter is given a registry folder.
func TestRegistryRegRoot(t *testing.T) {
	reg := writeDeployment(t, map[string]string{"governance/E.xml": deployedEndpoint})
	defs := []File{{Name: "synapse.xml", Data: []byte(`<definitions xmlns="http://ws.apache.org/ns/synapse">
  <registry provider="org.wso2.micro.integrator.registry.MicroIntegratorRegistry">
    <parameter name="RegRoot">file://` + filepath.ToSlash(reg) + `</parameter>
  </registry>
  <proxy name="P" transports="http"><target endpoint="gov:/E.xml"/></proxy>
</definitions>`)}}
	out, warnings, err := Adapt(defs, Options{})
	if err != nil || !strings.Contains(string(out), `"dial":"localhost:9001"`) {
		t.Fatalf("Adapt: %v\n%s", err, out)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "keys are read from its RegRoot, "+reg) {
		t.Errorf("warnings = %+v, want one saying RegRoot is read", warnings)
	}
	if _, _, err := Adapt(defs, Options{Registry: t.TempDir()}); err == nil || !strings.Contains(err.Error(), `registry key "gov:/E.xml": no file`) {
		t.Errorf("error = %v, want the adapter's registry folder read, not RegRoot", err)
	}
}
