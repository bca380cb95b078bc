package andon

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultOntologyBase is the namespace of the IRIs a receipt's
// ontology_refs name. The names under it never change between versions;
// a ledger may use another base (SetOntologyBase) for its own vocabulary.
const DefaultOntologyBase = "https://andon-sre.github.io/ns/andon#"

// OntologyRefs are the IRIs a receipt of type rt about a names: the andon,
// the event, what it does to the line (StopTheLine / ResumeTheLine), the
// TPS principle (Jidoka / Kaizen), its failure type and its stage.
func OntologyRefs(base string, rt ReceiptType, a Andon) []string {
	if base == "" {
		base = DefaultOntologyBase
	}
	event, line, principle := "AndonTriggered", "StopTheLine", "Jidoka"
	if rt == ReceiptResolved {
		event, line, principle = "AndonResolved", "ResumeTheLine", "Kaizen"
	}
	return []string{base + "Andon", base + event, base + line, base + principle,
		base + "failure/" + url.PathEscape(string(a.Type)), base + "stage/" + url.PathEscape(a.Stage)}
}

// ValidateOntologyBase accepts an absolute IRI ending in '#' or '/', so the
// names appended to it stay inside its namespace.
func ValidateOntologyBase(base string) error {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" || (!strings.HasSuffix(base, "#") && !strings.HasSuffix(base, "/")) || strings.ContainsAny(base, " \t\n<>\"") {
		return fmt.Errorf("%w: ontology base %q: give an absolute IRI ending in # or /, such as %s", ErrInvalid, base, DefaultOntologyBase)
	}
	return nil
}
