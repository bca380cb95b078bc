// Package andon is the stop-the-line ledger: an andon blocks its sku (a
// service or a build) until a human records root cause, fix and prevention.
// Every state change writes a receipt chained by hash to the one before.
package andon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/andon-sre/andon/limits"
)

// FailureType says why the line stopped.
type FailureType string

// The failure types the ledger accepts. The first two are the andon_type
// annotations of generated alerts, spelled in limits.
const (
	OperatingLimit     FailureType = limits.AndonTypeOperatingLimit
	SLOBurn            FailureType = limits.AndonTypeSLOBurn
	TestFailure        FailureType = "test_failure"
	CompilationFailure FailureType = "compilation_failure"
	NonDeterminism     FailureType = "non_determinism"
	MissingReceipt     FailureType = "missing_receipt"
	SHACLViolation     FailureType = "shacl_violation"
)

// FailureTypes lists every accepted failure type in a stable order.
var FailureTypes = []FailureType{OperatingLimit, SLOBurn, TestFailure, CompilationFailure, NonDeterminism, MissingReceipt, SHACLViolation}

// ParseFailureType accepts exactly one of FailureTypes.
func ParseFailureType(s string) (FailureType, error) {
	for _, t := range FailureTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown failure type %q: use one of %s", s, FailureTypeNames())
}

// FailureTypeNames lists FailureTypes comma-separated, for messages and help.
func FailureTypeNames() string {
	names := make([]string, len(FailureTypes))
	for i, t := range FailureTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// Status of an andon.
type Status string

// An andon is open until a human resolves it.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
)

// Errors callers branch on.
var (
	ErrNotFound        = errors.New("andon not found")
	ErrAlreadyResolved = errors.New("andon already resolved")
	ErrInvalid         = errors.New("invalid request")
	ErrUnavailable     = errors.New("store unavailable")
)

// Andon is one stop-the-line event.
type Andon struct {
	ID       string         `json:"id"`
	Type     FailureType    `json:"type"`
	SKU      string         `json:"sku"`
	Stage    string         `json:"stage"`
	Details  map[string]any `json:"details,omitempty"`
	Metadata *Metadata      `json:"metadata,omitempty"`
	Status   Status         `json:"status"`
	Origin   string         `json:"origin,omitempty"`
	OpenedAt time.Time      `json:"opened_at"`
	// Set once resolved.
	ResolvedAt *time.Time  `json:"resolved_at,omitempty"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// TimeToResolve is how long the andon stayed open (so far, when still open).
func (a Andon) TimeToResolve(now time.Time) time.Duration {
	end := now
	if a.ResolvedAt != nil {
		end = *a.ResolvedAt
	}
	return end.Sub(a.OpenedAt)
}

// Resolution is what a human records to release the line.
type Resolution struct {
	RootCause       string `json:"root_cause"`
	FixApplied      string `json:"fix_applied"`
	PreventionAdded string `json:"prevention_added"`
	Resolver        string `json:"resolver,omitempty"`
}

// Validate requires all three answers, each with visible text (spaces and
// invisible characters such as a zero-width space do not count).
func (r Resolution) Validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"root_cause", r.RootCause}, {"fix_applied", r.FixApplied}, {"prevention_added", r.PreventionAdded}} {
		if !hasVisible(f.v) {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: resolution needs visible text in %s", ErrInvalid, strings.Join(missing, ", "))
	}
	return nil
}

// hasVisible: s has a character that prints something.
func hasVisible(s string) bool {
	for _, r := range s {
		if unicode.IsGraphic(r) && !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) {
			return true
		}
	}
	return false
}

// NormalizeID returns an identifier (sku, stage) without surrounding
// spaces, and refuses one holding anything but printable characters and
// plain spaces: control and invisible characters (format characters such as
// zero-width spaces and bidi overrides, unassigned code points, invalid
// UTF-8) would make two identifiers look alike or forge a table row when printed.
func NormalizeID(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	for i, r := range s {
		if !printable(r) || r == utf8.RuneError {
			return "", fmt.Errorf("%w: %s %q has an invisible or control character (%U) at byte %d: use printable text", ErrInvalid, field, s, r, i)
		}
	}
	return s, nil
}

// Trigger asks for a new andon. Origin, when set, makes triggering
// idempotent: while an andon with the same origin is open, no second opens.
type Trigger struct {
	Type     FailureType    `json:"type"`
	SKU      string         `json:"sku"`
	Stage    string         `json:"stage"`
	Details  map[string]any `json:"details,omitempty"`
	Metadata *Metadata      `json:"metadata,omitempty"`
	Origin   string         `json:"origin,omitempty"`
}

// Normalize returns t with sku and stage normalized (NormalizeID), and
// rejects unknown types and an empty sku.
func (t Trigger) Normalize() (Trigger, error) {
	if _, err := ParseFailureType(string(t.Type)); err != nil {
		return t, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	var err error
	if t.SKU, err = NormalizeID("sku", t.SKU); err != nil {
		return t, err
	}
	if t.SKU == "" {
		return t, fmt.Errorf("%w: sku is empty: name the service or build the andon blocks", ErrInvalid)
	}
	if t.Stage, err = NormalizeID("stage", t.Stage); err != nil {
		return t, err
	}
	if t.Details, err = normalizeDetails(t.Details); err != nil {
		return t, err
	}
	if t.Metadata, err = t.Metadata.normalize(); err != nil {
		return t, err
	}
	return t, nil
}

// ParseDetails turns k=v pairs (CLI --detail) into details with string values.
func ParseDetails(pairs []string) (map[string]any, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: detail %q is not key=value", ErrInvalid, p)
		}
		m[k] = v
	}
	return m, nil
}

// newID returns a sortable id: prefix, base-36 milliseconds, random suffix.
func newID(prefix string, t time.Time) string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return prefix + strings.ToUpper(strconv.FormatInt(t.UnixMilli(), 36)) + "-" + strings.ToUpper(hex.EncodeToString(b[:]))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
