package httpjson

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecodeAnswersEachBadBodyWithItsStatus(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	cases := []struct {
		name, contentType, body string
		want                    int
		wantErr                 string
	}{
		{"one known object", "application/json", `{"name":"a"}`, 0, ""},
		{"a charset parameter is fine", "application/json; charset=utf-8", `{"name":"a"}`, 0, ""},
		{"no content type is fine (curl -d)", "", `{"name":"a"}`, 0, ""},
		{"another content type is 415", "text/plain", `{"name":"a"}`, http.StatusUnsupportedMediaType, "send application/json"},
		{"an unknown field is 400", "application/json", `{"name":"a","nmae":"b"}`, http.StatusBadRequest, `unknown field "nmae"`},
		{"data after the object is 400", "application/json", `{"name":"a"}{}`, http.StatusBadRequest, "data after the JSON object"},
		{"null is 400, not an empty object", "application/json", `null`, http.StatusBadRequest, "not a JSON object"},
		{"an array is 400", "application/json", ` [{"name":"a"}]`, http.StatusBadRequest, "not a JSON object"},
		{"a string is 400", "application/json", `"a"`, http.StatusBadRequest, "not a JSON object"},
		{"malformed JSON is 400", "application/json", `{"name":`, http.StatusBadRequest, "not a valid JSON object"},
		{"a body over the limit is 413", "application/json", `{"name":"` + strings.Repeat("x", 100) + `"}`, http.StatusRequestEntityTooLarge, "larger than 64 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(c.body))
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			var v body
			code, err := Decode(httptest.NewRecorder(), r, &v, 64)
			if code != c.want || (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("Decode = %d, %v; want %d and an error with %q", code, err, c.want, c.wantErr)
			}
			if err == nil && v.Name != "a" {
				t.Fatalf("decoded %+v", v)
			}
		})
	}
}

func TestErrorAnswersJSON(t *testing.T) {
	w := httptest.NewRecorder()
	Error(w, http.StatusConflict, "already resolved")
	var e struct{ Error string }
	if w.Code != http.StatusConflict || w.Header().Get("Content-Type") != "application/json" || json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Error != "already resolved" {
		t.Fatalf("answer %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
}
