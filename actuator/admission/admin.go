package admission

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/andon-sre/andon/internal/httpjson"
)

// maxAdminBody bounds a PUT body; a valid one is a few hundred bytes.
const maxAdminBody = 64 << 10

// AdminHandler serves GET and PUT of the admission API (docs/contracts.md);
// mount it at /admin/admission.
func (c *Controller) AdminHandler() http.Handler {
	return http.HandlerFunc(c.serveAdmin)
}

func (c *Controller) serveAdmin(w http.ResponseWriter, r *http.Request) {
	if msg, ok := CheckToken(c.cfg.Token, r); !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="andon-admission"`)
		httpjson.Error(w, http.StatusUnauthorized, msg)
		return
	}
	switch r.Method {
	case http.MethodGet:
		httpjson.Write(w, http.StatusOK, c.State())
	case http.MethodPut:
		var u Update
		if status, err := DecodeJSON(w, r, &u); err != nil {
			httpjson.Error(w, status, err.Error())
			return
		}
		st, err := c.Apply(u)
		switch {
		case errors.Is(err, ErrDrainStarted):
			httpjson.Error(w, http.StatusConflict, err.Error())
		case err != nil:
			httpjson.Error(w, http.StatusBadRequest, err.Error())
		default:
			httpjson.Write(w, http.StatusOK, st)
		}
	default:
		w.Header().Set("Allow", "GET, PUT")
		httpjson.Error(w, http.StatusMethodNotAllowed, r.Method+" is not supported; use GET to read or PUT to change the settings")
	}
}

// CheckToken checks "Authorization: Bearer <token>" in constant time. An empty
// token disables the API. It is exported for other admin endpoints of the same service.
func CheckToken(token string, r *http.Request) (string, bool) {
	if token == "" {
		return "admin API disabled: no admin token is configured (set --admin.token or ANDON_ADMIN_TOKEN)", false
	}
	got := r.Header.Get("Authorization")
	if subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+token)) != 1 {
		return "missing or wrong bearer token: send Authorization: Bearer <admin token>", false
	}
	return "", true
}

// DecodeJSON strictly decodes a JSON request body into v (unknown fields and
// trailing data are errors); on failure it returns the HTTP status to answer.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) (int, error) {
	return httpjson.Decode(w, r, v, maxAdminBody)
}
