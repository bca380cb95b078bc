package andon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// API is what the CLI verbs and the HTTP endpoints offer. Ledger implements
// it on a Store; Client implements it against a running server.
type API interface {
	Trigger(ctx context.Context, t Trigger) (TriggerResult, error)
	Resolve(ctx context.Context, id string, res Resolution) (Andon, error)
	Gate(ctx context.Context, sku, stage string) (GateResult, error)
	Show(ctx context.Context, id string) (Andon, []Receipt, error)
	List(ctx context.Context, f Filter) ([]Andon, error)
	Verify(ctx context.Context) ([]Problem, error)
	Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error)
}

// GateResult answers "can sku proceed to stage?". Any open andon of the sku
// blocks every stage: stopping the line stops all of it.
type GateResult struct {
	SKU      string  `json:"sku"`
	Stage    string  `json:"stage"`
	Proceed  bool    `json:"proceed"`
	Blocking []Andon `json:"blocking"`
}

// Ledger adds metrics, receipt files, proof checks and a clock to a Store.
type Ledger struct {
	Store       Store
	Metrics     *Metrics // may be nil
	ReceiptsDir string   // when set, every receipt is also written there as JSON (see BindReceiptsDir)
	Keys        Keyring  // when set, Verify checks every receipt's signature
	Logger      *slog.Logger
	Now         func() time.Time
	Events      EventSink   // may be nil; told of every committed trigger and resolution
	Stages      StagePolicy // the stages a trigger may name and what an open andon blocks

	bindOnce sync.Once // ReceiptsDir is bound to the ledger before the first file
	bindErr  error
}

var _ API = (*Ledger)(nil)

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Ledger) logger() *slog.Logger {
	if l.Logger != nil {
		return l.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Trigger opens an andon (or returns the open one with the same origin).
func (l *Ledger) Trigger(ctx context.Context, t Trigger) (TriggerResult, error) {
	if err := l.checkStage(t); err != nil {
		return TriggerResult{}, err
	}
	res, err := l.Store.Trigger(ctx, t, l.now())
	if err != nil {
		return res, err
	}
	if res.Created {
		l.opened(res.Andon, *res.Receipt)
	}
	return res, nil
}

func (l *Ledger) opened(a Andon, r Receipt) {
	if l.Metrics != nil {
		l.Metrics.triggered.WithLabelValues(string(a.Type)).Inc()
	}
	l.writeReceipt(r)
	l.announce(ReceiptTriggered, a, r)
}

// Resolve closes an andon; exactly one of racing resolvers wins.
func (l *Ledger) Resolve(ctx context.Context, id string, res Resolution) (Andon, error) {
	a, r, err := l.Store.Resolve(ctx, id, res, l.now())
	if err != nil {
		return a, err
	}
	if l.Metrics != nil {
		l.Metrics.resolved.WithLabelValues(string(a.Type)).Inc()
		l.Metrics.timeToResolve.Observe(a.TimeToResolve(*a.ResolvedAt).Seconds())
	}
	l.writeReceipt(r)
	l.announce(ReceiptResolved, a, r)
	return a, nil
}

// Ingest records a notification and opens the andons it asks for.
func (l *Ledger) Ingest(ctx context.Context, n Notification) (IngestResult, error) {
	for _, a := range n.Alerts {
		if a.Andon != nil {
			if err := l.checkStage(*a.Andon); err != nil {
				return IngestResult{}, err
			}
		}
	}
	res, err := l.Store.Ingest(ctx, n)
	if err != nil {
		return res, err
	}
	for i, a := range res.Opened {
		l.opened(a, res.Receipts[i])
	}
	return res, nil
}

// writeReceipt copies a committed receipt to ReceiptsDir. The store holds the
// chain; a failed file write is logged and later found by 'receipts verify --dir'.
func (l *Ledger) writeReceipt(r Receipt) {
	if l.ReceiptsDir == "" {
		return
	}
	l.bindOnce.Do(func() { l.bindErr = BindReceiptsDir(l.ReceiptsDir, l.Store.Identity().ID) })
	err := l.bindErr
	if err == nil {
		err = writeReceiptFile(l.ReceiptsDir, r)
	}
	if err != nil {
		l.logger().Error("receipt file not written", "receipt", r.ID, "dir", l.ReceiptsDir, "err", err)
	}
}

// SyncReceiptFiles writes the receipt files missing from ReceiptsDir, e.g.
// after a crash between a commit and its file write. It returns how many.
func (l *Ledger) SyncReceiptFiles(ctx context.Context) (int, error) {
	if l.ReceiptsDir == "" {
		return 0, nil
	}
	if err := BindReceiptsDir(l.ReceiptsDir, l.Store.Identity().ID); err != nil {
		return 0, err
	}
	rs, err := l.Store.Receipts(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rs {
		if _, err := os.Stat(filepath.Join(l.ReceiptsDir, r.ID+".json")); errors.Is(err, fs.ErrNotExist) {
			if err := writeReceiptFile(l.ReceiptsDir, r); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// Gate lists the open andons blocking sku. It answers only when the open
// andons the store holds are those the sku's receipts prove open: each open
// row agrees with its receipts (and none resolves it), and there are as many
// as the sku's receipts prove open (so a row deleted, moved to another sku
// or marked resolved is seen). Otherwise ErrTampered: the CLI exits 2, no
// answer, never "proceed".
func (l *Ledger) Gate(ctx context.Context, sku, stage string) (GateResult, error) {
	sku, err := NormalizeID("sku", sku)
	if err != nil {
		return GateResult{}, err
	}
	if sku == "" {
		return GateResult{}, fmt.Errorf("%w: sku is empty: pass the service or build to check", ErrInvalid)
	}
	st, err := l.Store.Open(ctx, sku)
	if err != nil {
		return GateResult{}, err
	}
	open := st.Andons
	if err := proveRows(open, st.Receipts); err != nil {
		return GateResult{}, fmt.Errorf("%w (gate of sku %s)", err, sku)
	}
	if st.ProvenOpen != len(open) {
		return GateResult{}, fmt.Errorf("%w: the receipts of sku %s prove %d andon(s) open, the store holds %d open: run 'andon receipts verify'", ErrTampered, sku, st.ProvenOpen, len(open))
	}
	blocking, err := l.blocking(open, stage)
	if err != nil {
		return GateResult{}, err
	}
	return GateResult{SKU: sku, Stage: stage, Proceed: len(blocking) == 0, Blocking: blocking}, nil
}

// CheckSigning fails with ErrKeyRequired when the chain is signed and the
// store holds no key: every write would fail, so a receiver refuses to start.
func (l *Ledger) CheckSigning(ctx context.Context, haveKey bool) error {
	head, err := l.Store.Head(ctx)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case head.KeyID != "" && !haveKey:
		return fmt.Errorf("%w (receipt %d is signed with key %s)", ErrKeyRequired, head.Seq, head.KeyID)
	}
	return nil
}

// Show returns one andon with its receipts, when they agree.
func (l *Ledger) Show(ctx context.Context, id string) (Andon, []Receipt, error) {
	a, rs, err := l.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) && len(rs) > 0 {
		return Andon{}, nil, fmt.Errorf("%w: andon %s has %d receipt(s) but no row: deleted; run 'andon receipts verify'", ErrTampered, id, len(rs))
	}
	if err != nil {
		return a, nil, err
	}
	if err := proveRows([]Andon{a}, rs); err != nil {
		return Andon{}, nil, err
	}
	return a, rs, nil
}

// List returns andons matching f, newest first, when their receipts agree.
func (l *Ledger) List(ctx context.Context, f Filter) ([]Andon, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrInvalid, f.Limit)
	}
	if f.Type != "" {
		if _, err := ParseFailureType(string(f.Type)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	if f.Status != "" && f.Status != StatusOpen && f.Status != StatusResolved {
		return nil, fmt.Errorf("%w: status %q: use open or resolved", ErrInvalid, f.Status)
	}
	if f.SKU != "" {
		var err error
		if f.SKU, err = NormalizeID("sku", f.SKU); err != nil {
			return nil, err
		}
	}
	list, rs, err := l.Store.List(ctx, f)
	if err != nil {
		return nil, err
	}
	if err := proveRows(list, rs); err != nil {
		return nil, err
	}
	return list, nil
}

// Actions returns the actuator's recorded decisions, newest first.
func (l *Ledger) Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("%w: limit %d is negative", ErrInvalid, f.Limit)
	}
	return l.Store.Actions(ctx, f)
}

// Verify checks the whole receipt chain against the andons table, the
// signatures when Keys is set, and the receipt files when ReceiptsDir is set.
func (l *Ledger) Verify(ctx context.Context) ([]Problem, error) {
	rs, andons, err := l.Store.Chain(ctx)
	if err != nil {
		return nil, err
	}
	probs := Verify(rs, andons, VerifyOptions{LedgerID: l.Store.Identity().ID, Keys: l.Keys})
	if l.ReceiptsDir != "" {
		if _, err := os.Stat(l.ReceiptsDir); err != nil {
			return nil, fmt.Errorf("receipts directory: %w", err)
		}
		if err := BindReceiptsDir(l.ReceiptsDir, l.Store.Identity().ID); err != nil {
			return nil, err
		}
		more, err := VerifyDir(l.ReceiptsDir, rs)
		if err != nil {
			return nil, err
		}
		probs = append(probs, more...)
	}
	return probs, nil
}
