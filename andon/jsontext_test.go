package andon

import (
	"bytes"
	"encoding/json"
	"testing"
)

// jsonText must write what encoding/json writes (without HTML escaping), for
// any keys and values: control characters, quotes, invalid UTF-8, U+2028.
func FuzzJSONText(f *testing.F) {
	for _, s := range [][2]string{{"alertname", "SvcDown"}, {"a\"b\\c", "\n\r\t\b\f\x00\x1f"}, {"\xff\xfe", "\u2028\u2029 <&> é 日本"}, {"", ""}} {
		f.Add(s[0], s[1], "k2", "v2")
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1, k2: v2}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(m); err != nil {
			t.Fatal(err)
		}
		if got := jsonText(m); got != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Fatalf("jsonText = %s\nencoding/json = %s", got, want.Bytes())
		}
	})
}

func TestJSONTextNil(t *testing.T) {
	if got := jsonText(nil); got != "null" {
		t.Fatalf("jsonText(nil) = %s, want null", got)
	}
}
