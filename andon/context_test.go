package andon

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestJSONDetailsAndMetadataAreKeptAndChained(t *testing.T) {
	l, path := openTest(t)
	ctx := context.Background()
	details := map[string]any{"expected": 1, "got": 2.5, "flaky": false, "report": map[string]any{"shapes": []any{"ex:A", "ex:B"}, "violations": 3}}
	meta := &Metadata{BuildID: " 4711 ", Operator: "ci-bot", Commit: "abc123", PipelineURL: "https://ci.example/p/4711", Extra: map[string]string{"runner": "linux-2"}}
	res, err := l.Trigger(ctx, Trigger{Type: SHACLViolation, SKU: "data", Stage: "validation", Details: details, Metadata: meta})
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
	wantMeta := &Metadata{BuildID: "4711", Operator: "ci-bot", Commit: "abc123", PipelineURL: "https://ci.example/p/4711", Extra: map[string]string{"runner": "linux-2"}}
	if !reflect.DeepEqual(a.Metadata, wantMeta) || !reflect.DeepEqual(rs[0].Metadata, wantMeta) {
		t.Errorf("metadata: row %+v, receipt %+v", a.Metadata, rs[0].Metadata)
	}
	if probs, err := l.Verify(ctx); err != nil || len(probs) != 0 {
		t.Fatalf("verify: %v %v", err, probs)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tamper := range []string{
		`UPDATE andons SET metadata = replace(metadata, 'abc123', 'def456')`,
		`UPDATE receipts SET body = replace(body, '"violations":3', '"violations":0')`,
	} {
		if _, err := db.Exec(tamper); err != nil {
			t.Fatal(err)
		}
		if probs, _ := l.Verify(ctx); len(probs) == 0 {
			t.Errorf("%s: not detected", tamper)
		}
	}
}

func TestContextLimits(t *testing.T) {
	l, _ := openTest(t)
	deep := map[string]any{}
	for cur, i := deep, 0; i < MaxDetailsDepth+1; i++ {
		next := map[string]any{}
		cur["k"] = next
		cur = next
	}
	for _, tc := range []struct {
		name string
		tr   Trigger
		want string
	}{
		{"details over 64 KiB", Trigger{Details: map[string]any{"log": strings.Repeat("x", MaxDetailsBytes)}}, "more than 65536"},
		{"details nested too deep", Trigger{Details: deep}, "nests deeper than 16"},
		{"details that are not JSON", Trigger{Details: map[string]any{"f": func() {}}}, "not JSON"},
		{"a relative pipeline_url", Trigger{Metadata: &Metadata{PipelineURL: "/p/1"}}, "not an absolute URL"},
		{"a typed key as a free key", Trigger{Metadata: &Metadata{Extra: map[string]string{"commit": "x"}}}, `"commit" is typed`},
		{"an oversized metadata value", Trigger{Metadata: &Metadata{Operator: strings.Repeat("o", MaxMetadataValue+1)}}, "operator is 2049 bytes"},
		{"an invisible character in metadata", Trigger{Metadata: &Metadata{Commit: "abc\u200b"}}, "invisible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.tr.Type, tc.tr.SKU, tc.tr.Stage = TestFailure, "b", "testing"
			_, err := l.Trigger(context.Background(), tc.tr)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
	if d, err := ParseDetailJSON([]string{"expected=1", `report={"a":[true]}`}, map[string]any{"job": "7"}); err != nil || d["expected"] != 1.0 || d["job"] != "7" {
		t.Errorf("ParseDetailJSON: %v %v", d, err)
	}
	if _, err := ParseDetailJSON([]string{"x=not json"}, nil); err == nil || !strings.Contains(err.Error(), "quote strings") {
		t.Errorf("a bare word: %v", err)
	}
}
