package andon

import (
	"context"
	"strings"
	"testing"
)

func TestReceiptsNameIRIs(t *testing.T) {
	l, _ := openTest(t)
	l.Store.SetOntologyBase("https://example.org/tps/")
	ctx := context.Background()
	res, err := l.Trigger(ctx, Trigger{Type: SHACLViolation, SKU: "data-7", Stage: "validation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resolve(ctx, res.Andon.ID, fix); err != nil {
		t.Fatal(err)
	}
	_, rs, err := l.Show(ctx, res.Andon.ID)
	if err != nil || len(rs) != 2 {
		t.Fatalf("show: %v, %d receipts", err, len(rs))
	}
	want := []string{
		"https://example.org/tps/Andon https://example.org/tps/AndonTriggered https://example.org/tps/StopTheLine https://example.org/tps/Jidoka https://example.org/tps/failure/shacl_violation https://example.org/tps/stage/validation",
		"https://example.org/tps/Andon https://example.org/tps/AndonResolved https://example.org/tps/ResumeTheLine https://example.org/tps/Kaizen https://example.org/tps/failure/shacl_violation https://example.org/tps/stage/validation",
	}
	for i, r := range rs {
		if got := strings.Join(r.OntologyRefs, " "); got != want[i] {
			t.Errorf("receipt %d refs\n got %s\nwant %s", i+1, got, want[i])
		}
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Errorf("verify: %v %v", err, probs)
	}
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
