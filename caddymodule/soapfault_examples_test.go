package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestSOAPFaultHandleErrors loads docs/soap_fault.md's handle_errors example.
func TestSOAPFaultHandleErrors(t *testing.T) {
	tester := sfServe(t, sfDemoUpstreamsDown(t, sfReadTestdata(t, "handle_errors.caddyfile")))
	resp, body := sfPost(t, tester, "http://localhost:8290/", "application/soap+xml", sfSOAP12Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap12", Code: "soap12Env:Receiver", CodeNS: sfNS12, Lang: "en",
		Reason: "Service unavailable (HTTP 502), please retry", StatusCode: 500, ContentType: "application/soap+xml; charset=UTF-8"})
	resp, body = sfPost(t, tester, "http://localhost:8290/", "text/xml", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfFault{Version: "soap11", Code: "soap11Env:Server", CodeNS: sfNS11,
		Reason: "Service unavailable (HTTP 502), please retry", StatusCode: 500, ContentType: "text/xml; charset=UTF-8"})
}

// sfProxyOnly is examples/proxy-only.Caddyfile, the demo's proxy without its
// backends, which must be the proxy of Caddyfile.example to the letter.
func sfProxyOnly(t *testing.T) string {
	t.Helper()
	proxy, err := os.ReadFile("../examples/proxy-only.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		t.Fatal(err)
	}
	site := string(proxy[strings.Index(string(proxy), ":8290 {"):])
	if !strings.Contains(string(demo), site) {
		t.Fatalf("examples/proxy-only.Caddyfile is not the proxy of Caddyfile.example:\n%s", site)
	}
	return string(proxy)
}

// TestSOAPFaultWalkthrough runs docs/soap_fault.md's walkthrough: the demo backends are
// stopped, the client gets the default fault.
func TestSOAPFaultWalkthrough(t *testing.T) {
	tester := sfServe(t, sfDemoUpstreamsDown(t, sfProxyOnly(t)))
	resp, body := sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "text/xml;charset=UTF-8", sfSOAP11Request)
	sfExpect(t, sfParseFault(t, resp, body), sfDefault11("COULDN'T SEND THE MESSAGE TO THE SERVER."))
	if want := sfReadTestdata(t, "default_soap11.xml"); string(body) != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
	if resp.ContentLength != 330 {
		t.Errorf("Content-Length %d, docs/soap_fault.md says 330", resp.ContentLength)
	}
	// Now the upstreams are marked down (fail_duration): 503, the same fault.
	resp, body2 := sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "text/xml;charset=UTF-8", sfSOAP11Request)
	if resp.StatusCode != 500 || string(body2) != string(body) {
		t.Errorf("second request: %d %s", resp.StatusCode, body2)
	}
	// The SOAP 1.2 default, as docs/soap_fault.md shows it.
	tester = sfServe(t, sfDemoUpstreamsDown(t, strings.Replace(sfProxyOnly(t), "version soap11", "version soap12", 1)))
	resp, body = sfPost(t, tester, "http://localhost:8290/services/LoadBalanceProxy", "application/soap+xml", sfSOAP12Request)
	if want := sfReadTestdata(t, "default_soap12.xml"); string(body) != want || resp.Header.Get("Content-Type") != "application/soap+xml; charset=UTF-8" {
		t.Errorf("SOAP 1.2 default: %s %s\nwant\n%s", resp.Header.Get("Content-Type"), body, want)
	}
}

// sfAdaptGolden is the golden adapt test of soap_fault's full syntax (run by
// TestCaddyfileAdapt), split into the Caddyfile and the JSON it adapts to.
func sfAdaptGolden(t *testing.T) (caddyfile, json string) {
	t.Helper()
	golden, err := os.ReadFile("testdata/adapt/soap_fault.txt")
	if err != nil {
		t.Fatal(err)
	}
	caddyfile, json, ok := strings.Cut(string(golden), "\n----------\n")
	if !ok {
		t.Fatal("testdata/adapt/soap_fault.txt: no ---------- separator")
	}
	return caddyfile + "\n", strings.TrimSpace(json)
}

// TestSOAPFaultConfigErrors: bad values fail at load, and the error names them.
func TestSOAPFaultConfigErrors(t *testing.T) {
	caddyfiles := []struct{ block, want string }{
		{"version soap13", `"soap13"`},
		{"code soap11Env:Bogus", `"Bogus"`},
		{"version soap12\n\t\tcode soap11Env:Client", `"soap11Env:Client"`},
		{"detail `<a><b></a>`", `<a><b></a>`},
		{"status abc", `"abc"`},
		{"status 99", "99"},
		{"on 200", "200"},
		{"on x5x", `"x5x"`},
		{"node urn:n", `"urn:n"`},
		{"colour red", `"colour"`},
		{"reason", "wrong argument count"},
	}
	for _, tc := range caddyfiles {
		t.Run("caddyfile/"+tc.block, func(t *testing.T) {
			assertLoadError(t, testConfig("\tsoap_fault {\n\t\t"+tc.block+"\n\t}\n\trespond 200"), "caddyfile", sfJSONEscaped(tc.want))
		})
	}
	jsons := []struct{ handler, want string }{
		{`"version": "soap13"`, `soap13`},
		{`"code": "x:Nope"`, `Nope`},
		{`"detail": "<a>"`, `detail "<a>"`},
		{`"status_code": 700`, "700"},
		{`"on": [302]`, "302"},
	}
	for _, tc := range jsons {
		t.Run("json/"+tc.handler, func(t *testing.T) {
			cfg := fmt.Sprintf(`{"admin":{"listen":"localhost:%d"},"apps":{"http":{"http_port":%d,"servers":{"srv0":{"listen":[":%d"],"routes":[{"handle":[{"handler":"soap_fault",`+tc.handler+`}]}]}}}}}`, adminPort, httpPort, httpPort)
			assertLoadError(t, cfg, "json", sfJSONEscaped(tc.want))
		})
	}
}

// sfJSONEscaped returns s as it appears in the admin API's JSON error.
func sfJSONEscaped(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}

// TestSOAPFaultREADME: every example of soap_fault's page is one of the
// testdata files that the tests above load, and every such file is on it.
func TestSOAPFaultREADME(t *testing.T) {
	var readme string
	for _, p := range []string{"../docs/soap_fault.md"} {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "soap_fault") {
			readme = string(b)
			break
		}
	}
	if readme == "" {
		t.Fatal("docs/soap_fault.md does not document soap_fault")
	}
	adaptCaddyfile, adaptJSON := sfAdaptGolden(t)
	examples := map[string]string{
		"caddyfile:proxy-only.Caddyfile":    sfProxyOnly(t),
		"caddyfile:handle_errors.caddyfile": sfReadTestdata(t, "handle_errors.caddyfile"),
		"caddyfile:adapt/soap_fault.txt":    adaptCaddyfile,
		"xml:default_soap11.xml":            sfReadTestdata(t, "default_soap11.xml"),
		"xml:default_soap12.xml":            sfReadTestdata(t, "default_soap12.xml"),
	}
	found := map[string]bool{}
	block := regexp.MustCompile("(?ms)^```(caddyfile|json|xml)\n(.*?)^```")
	for _, m := range block.FindAllStringSubmatch(readme, -1) {
		lang, text := m[1], strings.TrimSpace(m[2])
		if lang == "json" && strings.Contains(text, `"soap_fault"`) {
			var got, want any
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Errorf("docs/soap_fault.md: JSON does not parse: %v\n%s", err, text)
				continue
			}
			_ = json.Unmarshal([]byte(adaptJSON), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("docs/soap_fault.md: JSON is not the adapt golden output:\n%s", text)
			}
			found["json"] = true
			continue
		}
		ok := false
		for key, ex := range examples {
			if strings.HasPrefix(key, lang+":") && strings.TrimSpace(ex) == text {
				found[key], ok = true, true
			}
		}
		if !ok && strings.Contains(text, "soap_fault") || !ok && lang == "xml" && strings.Contains(text, "Fault") {
			t.Errorf("docs/soap_fault.md: %s example is not a tested testdata file:\n%s", lang, text)
		}
	}
	for key := range examples {
		if !found[key] {
			t.Errorf("testdata example %s is not in docs/soap_fault.md", key)
		}
	}
	if !found["json"] {
		t.Error("docs/soap_fault.md lacks the JSON of the full example")
	}
}
