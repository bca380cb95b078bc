// Package httpjson reads and answers JSON over HTTP the same way for every
// API of andon (the ledger, the admission API): a request body is exactly one
// JSON object with known fields within a size limit, and an error answer is
// {"error": "…"}.
package httpjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// Decode strictly decodes r's body into v: unknown fields and data after the
// object are errors, and so is a Content-Type other than application/json
// (none at all is accepted, as curl -d sends). On failure it returns the
// status to answer: 415, 413 past limit bytes, else 400.
func Decode(w http.ResponseWriter, r *http.Request, v any, limit int64) (int, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return http.StatusUnsupportedMediaType, fmt.Errorf("content type %q: send application/json", ct)
		}
	}
	var raw json.RawMessage
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(&raw); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("body is larger than %d bytes", tooBig.Limit)
		}
		return http.StatusBadRequest, fmt.Errorf("body is not a valid JSON object for this endpoint: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return http.StatusBadRequest, errors.New("body has data after the JSON object; send exactly one object")
	}
	// null (and any non-object) would decode into v as "nothing set".
	if raw[0] != '{' {
		return http.StatusBadRequest, fmt.Errorf("body is %s, not a JSON object: send {…}", truncate(raw))
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return http.StatusBadRequest, fmt.Errorf("body is not a valid JSON object for this endpoint: %w", err)
	}
	return 0, nil
}

func truncate(b []byte) string {
	if len(b) > 20 {
		return string(b[:20]) + "…"
	}
	return string(b)
}

// Write answers status with v as indented JSON.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error answers status with {"error": msg}.
func Error(w http.ResponseWriter, status int, msg string) {
	Write(w, status, map[string]string{"error": msg})
}
