package andon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
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

// Ledger adds metrics, receipt files and a clock to a Store.
type Ledger struct {
	Store       Store
	Metrics     *Metrics // may be nil
	ReceiptsDir string   // when set, every receipt is also written there as JSON
	Logger      *slog.Logger
	Now         func() time.Time
	Events      EventSink // may be nil; told of every committed trigger and resolution
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
	if err := writeReceiptFile(l.ReceiptsDir, r); err != nil {
		l.logger().Error("receipt file not written", "receipt", r.ID, "dir", l.ReceiptsDir, "err", err)
	}
}

// SyncReceiptFiles writes the receipt files missing from ReceiptsDir, e.g.
// after a crash between a commit and its file write. It returns how many.
func (l *Ledger) SyncReceiptFiles(ctx context.Context) (int, error) {
	if l.ReceiptsDir == "" {
		return 0, nil
	}
	if err := os.MkdirAll(l.ReceiptsDir, 0o755); err != nil {
		return 0, fmt.Errorf("receipts directory: %w", err)
	}
	rs, err := l.Store.Receipts(ctx, "")
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

// Gate lists the open andons blocking sku.
func (l *Ledger) Gate(ctx context.Context, sku, stage string) (GateResult, error) {
	if sku == "" {
		return GateResult{}, fmt.Errorf("%w: sku is empty: pass the service or build to check", ErrInvalid)
	}
	open, err := l.Store.List(ctx, Filter{SKU: sku, Status: StatusOpen, Limit: 1000})
	if err != nil {
		return GateResult{}, err
	}
	if open == nil {
		open = []Andon{}
	}
	return GateResult{SKU: sku, Stage: stage, Proceed: len(open) == 0, Blocking: open}, nil
}

// Show returns one andon with its receipts.
func (l *Ledger) Show(ctx context.Context, id string) (Andon, []Receipt, error) {
	a, err := l.Store.Get(ctx, id)
	if err != nil {
		return a, nil, err
	}
	rs, err := l.Store.Receipts(ctx, id)
	return a, rs, err
}

// List returns andons matching f, newest first.
func (l *Ledger) List(ctx context.Context, f Filter) ([]Andon, error) {
	return l.Store.List(ctx, f)
}

// Actions returns the actuator's recorded decisions, newest first.
func (l *Ledger) Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error) {
	return l.Store.Actions(ctx, f)
}

// Verify checks the whole receipt chain, and the receipt files when ReceiptsDir is set.
func (l *Ledger) Verify(ctx context.Context) ([]Problem, error) {
	rs, err := l.Store.Receipts(ctx, "")
	if err != nil {
		return nil, err
	}
	andons, err := l.Store.List(ctx, Filter{Limit: 1 << 30})
	if err != nil {
		return nil, err
	}
	probs := Verify(rs, andons)
	if l.ReceiptsDir != "" {
		if _, err := os.Stat(l.ReceiptsDir); err != nil {
			return nil, fmt.Errorf("receipts directory: %w", err)
		}
		more, err := VerifyDir(l.ReceiptsDir, rs)
		if err != nil {
			return nil, err
		}
		probs = append(probs, more...)
	}
	return probs, nil
}
