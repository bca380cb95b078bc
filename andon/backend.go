package andon

import (
	"encoding/json"
	"fmt"
	"time"
)

// The building blocks a Store outside this package (andon/postgres) needs so
// that every backend writes the same andons and the same receipts: ids,
// receipt hashing and the details of a resolution are domain rules, not SQL.

// NewAndonID returns a new andon id for an andon opened at at.
func NewAndonID(at time.Time) string { return newID("AND-", at) }

// NextReceipt builds the receipt of ledger ledgerID that follows the chain
// head (prevSeq, prevHash, prevKeyID), sealed by s (nil: unsigned); the
// caller stores it in the transaction that changes the andon. When the head
// is signed and s is nil it refuses (ErrKeyRequired): an unsigned receipt
// would break the chain's verification.
func NextReceipt(ledgerID string, s *Signer, ontologyBase string, prevSeq int64, prevHash, prevKeyID string, rt ReceiptType, a Andon, at time.Time, details map[string]any) (Receipt, error) {
	if prevKeyID != "" && s == nil {
		return Receipt{}, fmt.Errorf("%w (receipt %d is signed with key %s)", ErrKeyRequired, prevSeq, prevKeyID)
	}
	return newReceipt(ledgerID, s, ontologyBase, prevSeq, prevHash, rt, a, at, details), nil
}

// ReceiptFromRow decodes a stored receipt: seq is its place in the chain and
// andonID the id the store keeps beside the body (Verify checks they agree
// with the body); an unparseable body reads as a changed receipt.
func ReceiptFromRow(seq int64, andonID, body string) Receipt {
	var r Receipt
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		r = Receipt{Hash: "unparseable"}
	}
	r.Seq, r.indexedAndonID = seq, andonID
	return r
}

// ResolvedDetails are the details of an andon_resolved receipt.
func ResolvedDetails(a Andon, res Resolution, at time.Time) map[string]any {
	return map[string]any{
		"root_cause": res.RootCause, "fix_applied": res.FixApplied, "prevention_added": res.PreventionAdded,
		"resolver": res.Resolver, "time_to_resolve_ms": fmt.Sprint(a.TimeToResolve(at).Milliseconds()),
	}
}

// AlreadyResolved is the error of a resolve that lost the race (or came late).
func AlreadyResolved(a Andon) error {
	return fmt.Errorf("%w: %s was resolved at %s by %q", ErrAlreadyResolved, a.ID, a.ResolvedAt.Format(time.RFC3339), a.Resolution.Resolver)
}

// NotFound is the error of an unknown andon id.
func NotFound(id string) error {
	return fmt.Errorf("%w: no andon with id %q (list them with 'andon list')", ErrNotFound, id)
}

// IsBusinessErr tells a refusal of the request (invalid, unknown, already
// resolved) from a store failure, which callers wrap in ErrUnavailable.
func IsBusinessErr(err error) bool { return isBusinessErr(err) }

// Limit is the row limit a filter asks for (default 100).
func Limit(n int) int { return limit(n) }

// DetailsText and MetadataText are the andons table's details and metadata columns.
func DetailsText(d map[string]any) string { return detailsText(d) }

// MetadataText is "" for no metadata, else its JSON.
func MetadataText(m *Metadata) string { return metadataText(m) }

// DecodeMetadata reads the metadata column ("" is none).
func DecodeMetadata(col string) *Metadata {
	if col == "" {
		return nil
	}
	var m Metadata
	if json.Unmarshal([]byte(col), &m) != nil {
		return &Metadata{Extra: map[string]string{"unreadable": col}} // differs from the receipt: verify reports it
	}
	return &m
}

// JSONText encodes a string map as sorted-key JSON, as the stores keep labels.
func JSONText(m map[string]string) string { return jsonText(m) }
