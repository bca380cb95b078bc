package andon

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"
)

// The ledger's answers are what its receipt chain proves. This file holds
// the backend-neutral half of that: replaying receipts into andon state and
// comparing it with the state a store keeps for fast queries.

// Identity names a ledger. It is created once, by an explicit init, and
// every receipt carries its id, so receipts of two ledgers never mix.
type Identity struct {
	ID        string    `json:"ledger_id"`
	CreatedAt time.Time `json:"created_at"`
	Schema    int       `json:"schema_version"`
}

// NewLedgerID returns a fresh ledger id.
func NewLedgerID(at time.Time) string { return newID("LDG-", at) }

var (
	// ErrNotLedger: the file or directory is not (this) andon ledger; nothing was changed.
	ErrNotLedger = errors.New("not an andon ledger")
	// ErrTampered: the state the store answers from differs from what the
	// receipt chain proves; the ledger answers nothing until it is repaired.
	ErrTampered = errors.New("ledger state does not match its receipt chain")
)

// DeriveState replays receipts: the andons they prove, by id. Receipts that
// cannot follow each other (a second trigger, a resolution of nothing) are problems.
func DeriveState(rs []Receipt) (map[string]Andon, []Problem) {
	out := make(map[string]Andon, len(rs))
	var probs []Problem
	for _, r := range rs {
		a, seen := out[r.AndonID]
		switch r.Type {
		case ReceiptTriggered:
			if seen {
				probs = append(probs, Problem{Seq: r.Seq, Message: "a second andon_triggered receipt for " + r.AndonID})
				continue
			}
			out[r.AndonID] = Andon{ID: r.AndonID, Type: r.FailureType, SKU: r.SKU, Stage: r.Stage, Details: r.Details, Metadata: r.Metadata,
				Status: StatusOpen, Origin: r.Origin, OpenedAt: time.UnixMilli(r.TimestampMs).UTC()}
		case ReceiptResolved:
			if !seen || a.Status != StatusOpen {
				probs = append(probs, Problem{Seq: r.Seq, Message: "andon_resolved receipt for " + r.AndonID + ", which no receipt shows open"})
				continue
			}
			at := time.UnixMilli(r.TimestampMs).UTC()
			a.Status, a.ResolvedAt = StatusResolved, &at
			a.Resolution = &Resolution{RootCause: detailString(r.Details, "root_cause"), FixApplied: detailString(r.Details, "fix_applied"),
				PreventionAdded: detailString(r.Details, "prevention_added"), Resolver: detailString(r.Details, "resolver")}
			out[r.AndonID] = a
		default:
			probs = append(probs, Problem{Seq: r.Seq, Message: fmt.Sprintf("unknown receipt_type %q", r.Type)})
		}
	}
	return out, probs
}

// CompareState lists every difference between the andon rows a store holds
// and the andons the chain proves: rows edited, moved, deleted or added.
func CompareState(proven map[string]Andon, rows []Andon) []Problem {
	var probs []Problem
	have := make(map[string]bool, len(rows))
	for _, row := range rows {
		have[row.ID] = true
		p, ok := proven[row.ID]
		if !ok {
			probs = append(probs, Problem{AndonID: row.ID, Message: fmt.Sprintf("row (sku %q, %s) has no andon_triggered receipt: added or its receipts removed", row.SKU, row.Status)})
			continue
		}
		if d := diffAndon(row, p); d != "" {
			probs = append(probs, Problem{AndonID: row.ID, Message: "row differs from its receipts: " + d})
		}
	}
	ids := slices.Sorted(maps.Keys(proven))
	for _, id := range ids {
		if !have[id] {
			p := proven[id]
			probs = append(probs, Problem{AndonID: id, Message: fmt.Sprintf("its receipts prove it (sku %q, %s) but the store has no row: deleted", p.SKU, p.Status)})
		}
	}
	return probs
}

// diffAndon names the first field where the row differs from the proof ("" = none).
func diffAndon(row, p Andon) string {
	ms := func(t *time.Time) int64 {
		if t == nil {
			return -1
		}
		return t.UnixMilli()
	}
	var rowRes, pRes Resolution
	if row.Resolution != nil {
		rowRes = *row.Resolution
	}
	if p.Resolution != nil {
		pRes = *p.Resolution
	}
	for _, f := range []struct {
		name     string
		row, rcp any
	}{
		{"sku", row.SKU, p.SKU}, {"status", row.Status, p.Status}, {"type", row.Type, p.Type}, {"stage", row.Stage, p.Stage},
		{"origin", row.Origin, p.Origin}, {"opened_ms", row.OpenedAt.UnixMilli(), p.OpenedAt.UnixMilli()},
		{"resolved_ms", ms(row.ResolvedAt), ms(p.ResolvedAt)}, {"resolution", rowRes, pRes},
	} {
		if f.row != f.rcp {
			return fmt.Sprintf("%s is %v in the store, %v in the receipts", f.name, f.row, f.rcp)
		}
	}
	if !reflect.DeepEqual(row.Details, p.Details) {
		return "details differ"
	}
	if !reflect.DeepEqual(row.Metadata, p.Metadata) {
		return "metadata differ"
	}
	return ""
}

// proveRows checks that rows are what receipts prove, and that each receipt
// is intact (its hash recomputes): the check gate, show and list make before
// they answer. Signatures and the whole chain are 'receipts verify's job.
func proveRows(rows []Andon, rs []Receipt) error {
	for _, r := range rs {
		if r.ComputeHash() != r.Hash || r.indexedAndonID != "" && r.indexedAndonID != r.AndonID {
			return fmt.Errorf("%w: receipt %d (andon %s) was changed: run 'andon receipts verify'", ErrTampered, r.Seq, r.AndonID)
		}
	}
	proven, probs := DeriveState(rs)
	probs = append(probs, CompareState(proven, rows)...)
	if len(probs) > 0 {
		return fmt.Errorf("%w: %s (%d problem(s)): run 'andon receipts verify'", ErrTampered, probs[0], len(probs))
	}
	return nil
}
