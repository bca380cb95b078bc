package andon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Metadata is who and what stopped the line: typed keys a CI system knows,
// and free keys. Covered by the andon_triggered receipt's hash.
type Metadata struct {
	BuildID     string            `json:"build_id,omitempty"`
	Operator    string            `json:"operator,omitempty"`
	Commit      string            `json:"commit,omitempty"`
	PipelineURL string            `json:"pipeline_url,omitempty"`
	Extra       map[string]string `json:"extra,omitempty"`
}

// Limits on what a trigger carries, so one andon cannot bloat the chain.
const (
	MaxDetailsBytes  = 64 << 10 // details as compact JSON
	MaxDetailsDepth  = 16       // nesting of objects and arrays
	MaxMetadataValue = 2048     // bytes of one metadata value
	MaxMetadataExtra = 32       // free metadata keys
)

// normalizeDetails returns details as plain JSON values (objects, arrays,
// strings, float64 numbers, booleans, null), as they will read back from the
// store: the receipt's hash is computed over the same values it is verified
// with. Too large, too deep or not encodable is ErrInvalid.
func normalizeDetails(d map[string]any) (map[string]any, error) {
	if len(d) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("%w: details are not JSON: %v", ErrInvalid, err)
	}
	if len(b) > MaxDetailsBytes {
		return nil, fmt.Errorf("%w: details are %d bytes of JSON, more than %d: keep large reports as CI artefacts and link them (e.g. metadata pipeline_url)", ErrInvalid, len(b), MaxDetailsBytes)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("%w: details: %v", ErrInvalid, err)
	}
	if path, ok := tooDeep(out, 1, "details"); ok {
		return nil, fmt.Errorf("%w: %s nests deeper than %d levels: flatten it", ErrInvalid, path, MaxDetailsDepth)
	}
	for k := range out {
		if k == "" {
			return nil, fmt.Errorf("%w: details have an empty key", ErrInvalid)
		}
	}
	return out, nil
}

func tooDeep(v any, depth int, path string) (string, bool) {
	if depth > MaxDetailsDepth {
		return path, true
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if p, ok := tooDeep(e, depth+1, path+"."+k); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := tooDeep(e, depth+1, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}

// typedMetadata are the keys Metadata has fields for.
var typedMetadata = []string{"build_id", "operator", "commit", "pipeline_url"}

// normalize returns m without surrounding spaces, nil when empty, and
// refuses oversized or invisible values, free keys that shadow typed ones,
// and a pipeline_url that is not an absolute URL.
func (m *Metadata) normalize() (*Metadata, error) {
	if m == nil {
		return nil, nil
	}
	clean := func(name, v string) (string, error) {
		v, err := NormalizeID(name, v)
		if err == nil && len(v) > MaxMetadataValue {
			err = fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, name, len(v), MaxMetadataValue)
		}
		return v, err
	}
	var out Metadata
	var err error
	for _, f := range []struct {
		name string
		dst  *string
		v    string
	}{{"build_id", &out.BuildID, m.BuildID}, {"operator", &out.Operator, m.Operator}, {"commit", &out.Commit, m.Commit}, {"pipeline_url", &out.PipelineURL, m.PipelineURL}} {
		if *f.dst, err = clean(f.name, f.v); err != nil {
			return nil, err
		}
	}
	if len(m.Extra) > MaxMetadataExtra {
		return nil, fmt.Errorf("%w: metadata has %d free keys, at most %d", ErrInvalid, len(m.Extra), MaxMetadataExtra)
	}
	for k, v := range m.Extra {
		key := strings.TrimSpace(k)
		if slices.Contains(typedMetadata, key) {
			return nil, fmt.Errorf("%w: metadata key %q is typed: set it as %s, not as a free key", ErrInvalid, key, key)
		}
		if v, err = clean("metadata "+key, v); err != nil {
			return nil, err
		}
		if key == "" || v == "" {
			return nil, fmt.Errorf("%w: metadata free key %q needs a name and a value", ErrInvalid, k)
		}
		if out.Extra == nil {
			out.Extra = map[string]string{}
		}
		out.Extra[key] = v
	}
	if out.PipelineURL != "" {
		if u, err := url.Parse(out.PipelineURL); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("%w: pipeline_url %q is not an absolute URL", ErrInvalid, out.PipelineURL)
		}
	}
	if out.BuildID == "" && out.Operator == "" && out.Commit == "" && out.PipelineURL == "" && out.Extra == nil {
		return nil, nil
	}
	return &out, nil
}

// ParseDetailJSON turns k=<JSON value> pairs (CLI --detail-json) into details.
func ParseDetailJSON(pairs []string, into map[string]any) (map[string]any, error) {
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: detail %q is not key=<JSON value>", ErrInvalid, p)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(v)))
		var val any
		if err := dec.Decode(&val); err != nil || dec.More() {
			return nil, fmt.Errorf("%w: detail %s: %q is not one JSON value (quote strings: %s='\"text\"')", ErrInvalid, k, v, k)
		}
		if into == nil {
			into = map[string]any{}
		}
		into[k] = val
	}
	return into, nil
}

// DetailText prints a detail value: strings as they are, anything else as JSON.
func DetailText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// detailString reads a string detail ("" when absent or not a string).
func detailString(d map[string]any, k string) string {
	s, _ := d[k].(string)
	return s
}

// detailsText and metadataText are what the andons table keeps: compact JSON.
func detailsText(d map[string]any) string {
	if d == nil {
		return "null"
	}
	b, _ := json.Marshal(d) // normalized: plain JSON values
	return string(b)
}

func metadataText(m *Metadata) string {
	if m == nil {
		return ""
	}
	b, _ := json.Marshal(m)
	return string(b)
}
