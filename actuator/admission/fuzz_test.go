package admission

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAdminPUT feeds arbitrary bodies to PUT /admin/admission: the answer is
// always one of the documented statuses, and a 200 leaves a state that reads back.
func FuzzAdminPUT(f *testing.F) {
	for _, seed := range []string{
		`{"shed_fraction":0.5,"shed_tiers":[3,2],"ttl":"5m","reason":"r","andon_id":"AND-1","set_by":"w"}`,
		`{"reject_new":true,"ttl":"1d"}`,
		`{"drain":false}`,
		`{"shed_fraction":0}`,
		`{"shed_tiers":[1]}`,
		`{"ttl":"1h30m"}`,
		`[]`,
		``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		c, err := New(Config{Token: "t", DrainGrace: 1 << 62})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPut, "/admin/admission", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		rec := httptest.NewRecorder()
		c.AdminHandler().ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			st := c.State()
			if st.Shed != nil && (st.Shed.Fraction <= 0 || st.Shed.Fraction > 1 || len(st.Shed.Tiers) == 0) {
				t.Fatalf("accepted body %q left an invalid shed setting %+v", body, st.Shed)
			}
		case 400, 413:
		default:
			t.Fatalf("body %q: unexpected status %d", body, rec.Code)
		}
	})
}
