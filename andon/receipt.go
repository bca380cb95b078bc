package andon

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
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
	Seq          int64             `json:"seq"`
	ID           string            `json:"receipt_id"`
	AndonID      string            `json:"andon_id"`
	TimestampMs  int64             `json:"timestamp_ms"`
	Timestamp    string            `json:"timestamp"`
	Type         ReceiptType       `json:"receipt_type"`
	FailureType  FailureType       `json:"failure_type"`
	SKU          string            `json:"sku"`
	Stage        string            `json:"stage"`
	Status       Status            `json:"status"`
	OntologyRefs []string          `json:"ontology_refs"`
	Details      map[string]string `json:"details,omitempty"`
	PrevHash     string            `json:"prev_hash"`
	Hash         string            `json:"hash"`
}

// newReceipt builds the receipt that follows (prevSeq, prevHash).
func newReceipt(prevSeq int64, prevHash string, rt ReceiptType, a Andon, at time.Time, details map[string]string) Receipt {
	at = at.UTC().Truncate(time.Millisecond)
	r := Receipt{
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
		OntologyRefs: ontologyRefs(rt, a.Type),
		Details:      details,
		PrevHash:     prevHash,
	}
	r.Hash = r.ComputeHash()
	return r
}

// ontologyRefs ties a receipt to the Toyota Production System vocabulary.
func ontologyRefs(rt ReceiptType, ft FailureType) []string {
	step := "tps:Jidoka"
	if rt == ReceiptResolved {
		step = "tps:Kaizen"
	}
	return []string{"tps:Andon", step, "andon:failure/" + string(ft)}
}

// ComputeHash is sha256 over the receipt's canonical JSON without Hash.
func (r Receipt) ComputeHash() string {
	r.Hash = ""
	b, err := json.Marshal(r) // struct field order and sorted map keys make this canonical
	if err != nil {
		panic(err) // only strings, ints and string maps: cannot fail
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

// Verify checks the chain (contiguous sequence, each hash recomputed, each
// prev_hash linking) and that every andon has the receipts its status needs,
// which catches a receipt removed from the end of the chain.
func Verify(receipts []Receipt, andons []Andon) []Problem {
	var probs []Problem
	prevHash, prevSeq := GenesisHash, int64(0)
	have := map[string]map[ReceiptType]bool{}
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
		if have[r.AndonID] == nil {
			have[r.AndonID] = map[ReceiptType]bool{}
		}
		have[r.AndonID][r.Type] = true
		prevHash, prevSeq = r.Hash, r.Seq
	}
	for _, a := range andons {
		if !have[a.ID][ReceiptTriggered] {
			probs = append(probs, Problem{AndonID: a.ID, Message: "missing its andon_triggered receipt"})
		}
		if a.Status == StatusResolved && !have[a.ID][ReceiptResolved] {
			probs = append(probs, Problem{AndonID: a.ID, Message: "resolved but missing its andon_resolved receipt"})
		}
	}
	return probs
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
			err = json.Unmarshal(b, &f)
		}
		if err != nil || f.Hash != r.Hash || f.ComputeHash() != f.Hash {
			probs = append(probs, Problem{Seq: r.Seq, Message: "receipt file " + name + " differs from the stored receipt"})
		}
	}
	for name := range files {
		probs = append(probs, Problem{Message: "receipt file " + name + " has no stored receipt (removed from the store?)"})
	}
	return probs, nil
}

// writeReceiptFile writes r as dir/<receipt id>.json atomically.
func writeReceiptFile(dir string, r Receipt) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".rcp-*")
	if err != nil {
		return fmt.Errorf("write receipt %s into %s: %w", r.ID, dir, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write receipt %s: %w", r.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, r.ID+".json"))
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}
