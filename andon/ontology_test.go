package andon

import (
	"testing"
)

func TestDefaultOntologyBaseAndEscaping(t *testing.T) {
	if got := OntologyRefs("", ReceiptTriggered, Andon{Type: TestFailure, Stage: "a b"})[5]; got != DefaultOntologyBase+"stage/a%20b" {
		t.Errorf("default base and escaping: %s", got)
	}
}

func TestValidateOntologyBase(t *testing.T) {
	for _, tc := range []struct {
		base string
		ok   bool
	}{
		{DefaultOntologyBase, true},
		{"urn:example:andon#", true},
		{"https://example.org/ns/", true},
		{"tps:", false},       // a prefix, not a namespace ending in # or /
		{"/relative/", false}, // not absolute
		{"https://example.org/x", false},
		{"https://exa mple.org/#", false},
	} {
		if err := ValidateOntologyBase(tc.base); (err == nil) != tc.ok {
			t.Errorf("%q: %v, want ok=%v", tc.base, err, tc.ok)
		}
	}
}
