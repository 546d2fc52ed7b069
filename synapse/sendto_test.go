package synapse

import (
	"slices"
	"strings"
	"testing"
)

// ParseSendTo takes host:port lists split on commas and spaces, and refuses
// anything that is not a host and a port, naming it.
func TestParseSendTo(t *testing.T) {
	got, err := ParseSendTo("localhost:9000, Backend.Example:80,[::1]:8080")
	if want := []string{"localhost:9000", "backend.example:80", "[::1]:8080"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("ParseSendTo = %q, %v; want %q", got, err, want)
	}
	for in, want := range map[string]string{
		"localhost":             `send-to "localhost" is not host:port`,
		"http://localhost:9000": `send-to "http://localhost:9000" is not host:port`,
		"localhost:0":           `send-to "localhost:0": port "0" out of range 1-65535`,
		"localhost:http":        `send-to "localhost:http": port "http" out of range 1-65535`,
		":9000":                 `send-to ":9000" is not host:port`,
	} {
		if _, err := ParseSendTo(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSendTo(%q) = %v, want an error with %q", in, err, want)
		}
	}
	if _, _, err := Adapt([]File{{Data: []byte(`<sequence xmlns="http://ws.apache.org/ns/synapse" name="main"><send/></sequence>`)}},
		Options{SendTo: []string{"nohost"}}); err == nil || !strings.Contains(err.Error(), `send-to "nohost"`) {
		t.Errorf("Adapt with a bad send-to: %v", err)
	}
}
