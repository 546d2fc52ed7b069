package synapse

import (
	"slices"
	"strings"
	"testing"
)

// TestJavaHashSetOrder compares with what java.util.HashSet<String>(4)
// iterates after adding the methods in this order (printed by a JDK 17).
func TestJavaHashSetOrder(t *testing.T) {
	for added, want := range map[string]string{
		"POST GET DELETE PUT":                    "DELETE POST PUT GET",
		"GET OPTIONS":                            "OPTIONS GET",
		"GET POST":                               "POST GET",
		"POST GET":                               "POST GET",
		"PUT PATCH":                              "PUT PATCH",
		"GET POST PUT DELETE PATCH HEAD OPTIONS": "HEAD DELETE POST GET OPTIONS PUT PATCH",
		"HEAD GET POST":                          "HEAD POST GET",
	} {
		if got := javaHashSetOrder(strings.Fields(added)); !slices.Equal(got, strings.Fields(want)) {
			t.Errorf("%s: got %v, want %s", added, got, want)
		}
	}
}
