package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAdminCapacityPUT feeds arbitrary bodies to PUT /admin/capacity: the answer is
// 200 with a valid model, or 400/413, never a panic.
func FuzzAdminCapacityPUT(f *testing.F) {
	for _, seed := range []string{
		`{"rate_per_second":500,"queue_capacity":5000}`,
		`{"error_ratio":0.01,"memory_growth_bytes_per_second":1048576,"memory_limit_bytes":1}`,
		`{"release_memory":true}`,
		`{"rate_per_second":-1}`,
		`{}`,
	} {
		f.Add(seed)
	}
	s, err := New(Config{AdminToken: "t", Capacity: unlimited()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPut, "/admin/capacity", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			if err := s.capacity.state().Validate(); err != nil {
				t.Fatalf("accepted %q into an invalid model: %v", body, err)
			}
		case 400, 413:
		default:
			t.Fatalf("body %q: status %d", body, rec.Code)
		}
	})
}
