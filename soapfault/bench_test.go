package soapfault

import (
	"strings"
	"testing"
)

// BenchmarkRender measures the per-request cost of a compiled fault: escaping
// the reason and appending the pre-rendered envelope to a reused buffer.
func BenchmarkRender(b *testing.B) {
	c, err := Compile(Fault{Version: VersionAuto, Detail: `<e:err xmlns:e="urn:e">upstream down</e:err>`})
	if err != nil {
		b.Fatal(err)
	}
	tmpl := c.Template("text/xml; charset=UTF-8")
	buf := make([]byte, 0, 1024)

	b.Run("static", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = tmpl.Append(buf[:0], DefaultReason)
		}
		b.SetBytes(int64(len(buf)))
	})

	// The reason as a Caddy placeholder would expand it: a request-dependent
	// string that needs escaping. strings.Replacer stands in for caddy.Replacer,
	// which this package must not import.
	expand := strings.NewReplacer("{http.error.status_code}", "502", "{http.error.message}", "dial tcp 127.0.0.1:9001: connect: connection refused & <retry>")
	const reason = "upstream failed ({http.error.status_code}): {http.error.message}"
	b.Run("placeholder", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = tmpl.Append(buf[:0], expand.Replace(reason))
		}
		b.SetBytes(int64(len(buf)))
	})

	b.Run("auto-detect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf = c.Template("application/soap+xml; charset=utf-8").Append(buf[:0], DefaultReason)
		}
		b.SetBytes(int64(len(buf)))
	})
}
