package andon

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ReceiptType names the state change a receipt records.
type ReceiptType string

// Receipt types.
const (
	ReceiptTriggered ReceiptType = "andon_triggered"
	ReceiptResolved  ReceiptType = "andon_resolved"
)

// GenesisHash is the previous hash of the first receipt.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Receipt is the audit record of one state change. Hash covers every other
// field, PrevHash links it to the receipt before, so changing or removing
// one breaks the chain.
type Receipt struct {
	LedgerID     string         `json:"ledger_id"`
	Seq          int64          `json:"seq"`
	ID           string         `json:"receipt_id"`
	AndonID      string         `json:"andon_id"`
	TimestampMs  int64          `json:"timestamp_ms"`
	Timestamp    string         `json:"timestamp"`
	Type         ReceiptType    `json:"receipt_type"`
	FailureType  FailureType    `json:"failure_type"`
	SKU          string         `json:"sku"`
	Stage        string         `json:"stage"`
	Status       Status         `json:"status"`
	Origin       string         `json:"origin,omitempty"`
	OntologyRefs []string       `json:"ontology_refs"`
	Details      map[string]any `json:"details,omitempty"`
	Metadata     *Metadata      `json:"metadata,omitempty"` // andon_triggered only
	PrevHash     string         `json:"prev_hash"`
	KeyID        string         `json:"key_id,omitempty"`
	Hash         string         `json:"hash"`
	// Signature is ed25519 over the hash (sign.go); not covered by the hash.
	Signature string `json:"signature,omitempty"`

	// indexedAndonID is the andon id a store keeps beside the body to find
	// an andon's receipts ("" when it keeps none); Verify checks they agree.
	indexedAndonID string
}

// newReceipt builds the receipt that follows (prevSeq, prevHash), sealed by s (nil: unsigned),
// its ontology refs under base ("" for DefaultOntologyBase).
func newReceipt(ledgerID string, s *Signer, base string, prevSeq int64, prevHash string, rt ReceiptType, a Andon, at time.Time, details map[string]any) Receipt {
	at = at.UTC().Truncate(time.Millisecond)
	r := Receipt{
		LedgerID:     ledgerID,
		Seq:          prevSeq + 1,
		ID:           fmt.Sprintf("RCP-%012d", prevSeq+1),
		AndonID:      a.ID,
		TimestampMs:  at.UnixMilli(),
		Timestamp:    at.Format("2006-01-02T15:04:05.000Z07:00"),
		Type:         rt,
		FailureType:  a.Type,
		SKU:          a.SKU,
		Stage:        a.Stage,
		Status:       a.Status,
		Origin:       a.Origin,
		OntologyRefs: OntologyRefs(base, rt, a),
		Details:      details,
		PrevHash:     prevHash,
	}
	if rt == ReceiptTriggered {
		r.Metadata = a.Metadata
	}
	s.seal(&r)
	return r
}

// ComputeHash is sha256 over the receipt's canonical JSON without Hash and Signature.
func (r Receipt) ComputeHash() string {
	r.Hash, r.Signature = "", ""
	b, err := json.Marshal(r) // struct field order and sorted map keys make this canonical
	if err != nil {
		panic(err) // strings, ints and JSON-decoded details: cannot fail
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Problem is one finding of Verify.
type Problem struct {
	Seq     int64  `json:"seq,omitempty"`
	AndonID string `json:"andon_id,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	switch {
	case p.Seq != 0:
		return fmt.Sprintf("receipt %d: %s", p.Seq, p.Message)
	case p.AndonID != "":
		return fmt.Sprintf("andon %s: %s", p.AndonID, p.Message)
	}
	return p.Message
}

// VerifyOptions say what else the chain must prove.
type VerifyOptions struct {
	LedgerID string  // every receipt names this ledger
	Keys     Keyring // when set, every receipt carries a valid signature by one of these keys
}

// Verify checks the chain (contiguous sequence, each hash recomputed, each
// prev_hash linking, each receipt naming this ledger and, with keys, signed)
// and that the andons table is exactly the state the chain proves: an andon
// row edited, moved to another sku, deleted or added is a problem, and so is
// a receipt removed from the end of the chain while its andon's row remains.
func Verify(receipts []Receipt, andons []Andon, o VerifyOptions) []Problem {
	var probs []Problem
	prevHash, prevSeq := GenesisHash, int64(0)
	for _, r := range receipts {
		if r.Seq != prevSeq+1 {
			probs = append(probs, Problem{Seq: prevSeq + 1, Message: fmt.Sprintf("missing: the chain jumps from %d to %d", prevSeq, r.Seq)})
		}
		if r.PrevHash != prevHash {
			probs = append(probs, Problem{Seq: r.Seq, Message: "prev_hash does not match the hash of the receipt before"})
		}
		if h := r.ComputeHash(); h != r.Hash {
			probs = append(probs, Problem{Seq: r.Seq, Message: "content changed: recomputed hash " + short(h) + " differs from stored " + short(r.Hash)})
		}
		if r.indexedAndonID != "" && r.indexedAndonID != r.AndonID {
			probs = append(probs, Problem{Seq: r.Seq, Message: fmt.Sprintf("stored under andon %s but its body names %s", r.indexedAndonID, r.AndonID)})
		}
		if r.LedgerID != o.LedgerID {
			probs = append(probs, Problem{Seq: r.Seq, Message: fmt.Sprintf("belongs to ledger %q, not to this ledger %q", r.LedgerID, o.LedgerID)})
		}
		if o.Keys != nil {
			if msg := o.Keys.checkSignature(r); msg != "" {
				probs = append(probs, Problem{Seq: r.Seq, Message: msg})
			}
		}
		prevHash, prevSeq = r.Hash, r.Seq
	}
	proven, more := DeriveState(receipts)
	probs = append(probs, more...)
	return append(probs, CompareState(proven, andons)...)
}

// DecodeReceipt reads one receipt file strictly: one JSON object, known fields only.
func DecodeReceipt(b []byte) (Receipt, error) {
	var r Receipt
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Receipt{}, fmt.Errorf("not a receipt: %w", err)
	}
	if dec.More() {
		return Receipt{}, errors.New("not a receipt: data after the JSON object")
	}
	if r.ID == "" || r.Hash == "" {
		return Receipt{}, errors.New("not a receipt: receipt_id or hash missing")
	}
	return r, nil
}

// VerifyDir compares the JSON receipt files in dir with the stored chain:
// a file that differs or is missing, or a file with no stored receipt, is a problem.
func VerifyDir(dir string, receipts []Receipt) ([]Problem, error) {
	entries, err := filepath.Glob(filepath.Join(dir, "RCP-*.json"))
	if err != nil {
		return nil, err
	}
	files := map[string]bool{}
	for _, e := range entries {
		files[filepath.Base(e)] = true
	}
	var probs []Problem
	for _, r := range receipts {
		name := r.ID + ".json"
		if !files[name] {
			probs = append(probs, Problem{Seq: r.Seq, Message: "no receipt file " + filepath.Join(dir, name)})
			continue
		}
		delete(files, name)
		var f Receipt
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil {
			f, err = DecodeReceipt(b)
		}
		if err != nil || f.Hash != r.Hash || f.ComputeHash() != f.Hash || f.Signature != r.Signature {
			probs = append(probs, Problem{Seq: r.Seq, Message: "receipt file " + name + " differs from the stored receipt"})
		}
	}
	for name := range files {
		probs = append(probs, Problem{Message: "receipt file " + name + " has no stored receipt (removed from the store?)"})
	}
	return probs, nil
}

// writeReceiptFile writes r as dir/<receipt id>.json, created exclusively:
// an existing file is never overwritten (one with the same content is kept,
// e.g. written before a crash; a different one is an error).
func writeReceiptFile(dir string, r Receipt) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	tmp, err := os.CreateTemp(dir, ".rcp-*")
	if err != nil {
		return fmt.Errorf("write receipt %s into %s: %w", r.ID, dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write receipt %s: %w", r.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	final := filepath.Join(dir, r.ID+".json")
	// A hard link fails when the name exists, where a rename would replace it.
	if err := os.Link(tmp.Name(), final); err != nil {
		if old, rerr := os.ReadFile(final); rerr == nil && bytes.Equal(old, b) {
			return nil
		}
		return fmt.Errorf("receipt file %s exists with other content: not overwritten (receipts of another ledger in this directory?): %w", final, err)
	}
	return nil
}

// ledgerMarker names the file that binds a receipts directory to its ledger.
const ledgerMarker = "LEDGER"

// BindReceiptsDir makes dir the receipts directory of ledger id: it creates
// dir and its LEDGER file when new, and refuses a directory of another
// ledger, or one holding receipt files but no LEDGER file.
func BindReceiptsDir(dir, id string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("receipts directory: %w", err)
	}
	marker := filepath.Join(dir, ledgerMarker)
	b, err := os.ReadFile(marker)
	switch {
	case err == nil:
		if got := strings.TrimSpace(string(b)); got != id {
			return fmt.Errorf("%w: receipts directory %s belongs to ledger %q (its %s file), not to this ledger %q: give each ledger its own directory", ErrNotLedger, dir, got, ledgerMarker, id)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("receipts directory: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "RCP-*.json")); len(old) > 0 {
		return fmt.Errorf("%w: receipts directory %s holds %d receipt file(s) but no %s file: they belong to an unknown ledger; use an empty directory", ErrNotLedger, dir, len(old), ledgerMarker)
	}
	if err := writeExclusive(marker, []byte(id+"\n"), 0o644); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("receipts directory: %w", err)
	}
	return BindReceiptsDir(dir, id) // a concurrent binder may have won: check what it wrote
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
