package andon

import (
	"context"
	"errors"
	"strings"
	"testing"
)

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
