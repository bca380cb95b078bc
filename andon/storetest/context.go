package storetest

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/andon-sre/andon/andon"
)

// richContext: metadata and JSON details are kept as sent (numbers as
// JSON numbers), in the row and the triggered receipt, and a change to
// either is found by verify.
func richContext(t *testing.T, b Backend) {
	l, raw := open(t, b)
	ctx := context.Background()
	details := map[string]any{"expected": 1, "got": 2.5, "flaky": false, "report": map[string]any{"shapes": []any{"ex:A", "ex:B"}, "violations": 3}}
	meta := &andon.Metadata{BuildID: " 4711 ", Operator: "ci-bot", Commit: "abc123", PipelineURL: "https://ci.example/p/4711", Extra: map[string]string{"runner": "linux-2"}}
	res, err := l.Trigger(ctx, andon.Trigger{Type: andon.SHACLViolation, SKU: "data", Stage: "validation", Details: details, Metadata: meta})
	if err != nil {
		t.Fatal(err)
	}
	a, rs, err := l.Show(ctx, res.Andon.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"expected": 1.0, "got": 2.5, "flaky": false, "report": map[string]any{"shapes": []any{"ex:A", "ex:B"}, "violations": 3.0}}
	if !reflect.DeepEqual(a.Details, want) || !reflect.DeepEqual(rs[0].Details, want) {
		t.Errorf("details\n row     %#v\n receipt %#v\n want    %#v", a.Details, rs[0].Details, want)
	}
	wantMeta := &andon.Metadata{BuildID: "4711", Operator: "ci-bot", Commit: "abc123", PipelineURL: "https://ci.example/p/4711", Extra: map[string]string{"runner": "linux-2"}}
	if !reflect.DeepEqual(a.Metadata, wantMeta) || !reflect.DeepEqual(rs[0].Metadata, wantMeta) {
		t.Errorf("metadata: row %+v, receipt %+v", a.Metadata, rs[0].Metadata)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", err, probs)
	}
	for _, tamper := range []string{
		`UPDATE andons SET metadata = replace(metadata, 'abc123', 'def456')`,
		`UPDATE receipts SET body = replace(body, '"violations":3', '"violations":0')`,
	} {
		if err := raw.Exec(tamper); err != nil {
			t.Fatal(err)
		}
		if probs, _ := l.Verify(ctx); len(probs) == 0 {
			t.Errorf("%s: not detected", tamper)
		}
	}
}

func ontologyRefsAreIRIs(t *testing.T, b Backend) {
	l, _ := open(t, b)
	l.Store.SetOntologyBase("https://example.org/tps/")
	ctx := context.Background()
	res, err := l.Trigger(ctx, andon.Trigger{Type: andon.SHACLViolation, SKU: "data-7", Stage: "validation"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resolve(ctx, res.Andon.ID, Fix); err != nil {
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
}
