package synapse

import "testing"

// javaOnlyClass finds a class nested in a class and "&&" in a class, and
// nothing in what is escaped, quoted or outside a class.
func TestJavaOnlyClass(t *testing.T) {
	for re, found := range map[string]bool{
		`Mozilla/[0-9&&[^4]].*`: true,
		`[[a-z]]`:               true,
		`[[:alpha:]]+`:          true,
		`[a-z&&b]`:              true,
		`curl/[0-9.]+( .*)?`:    false,
		`a&&b`:                  false,
		`[\[\]&]+`:              false,
		`[]a[]`:                 true,
		`[]a]+`:                 false,
		`[^]a]+`:                false,
		`\Q[[&&\E[a]`:           false,
		`\Q[[`:                  false,
	} {
		if got := javaOnlyClass(re) != ""; got != found {
			t.Errorf("javaOnlyClass(%q) = %q; want found %t", re, javaOnlyClass(re), found)
		}
	}
}
