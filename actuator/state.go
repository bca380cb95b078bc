package actuator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// StateStore keeps the engine's state — active actions, their sources and
// pending reverts, recent changes for the cooldowns — as one JSON document,
// saved after every change. When the Recorder given to NewEngine implements
// it (the webhook's does, in the ledger's store), a restarted receiver
// restores it with Restore and still reverts, after the hold-down, what it
// applied before the restart.
type StateStore interface {
	SaveState(ctx context.Context, doc []byte) error
}

const stateVersion = 1

type savedState struct {
	Version int           `json:"version"`
	Active  []savedAction `json:"active"`
	Changes []savedChange `json:"last_changes"`
}

type savedAction struct {
	Kind      Kind         `json:"kind"`
	Service   string       `json:"service"`
	Instance  string       `json:"instance,omitempty"`
	Request   Request      `json:"request"`
	AppliedAt time.Time    `json:"applied_at"`
	Expires   time.Time    `json:"expires"`
	DryRun    bool         `json:"dry_run,omitempty"`
	Sources   []string     `json:"sources"` // fingerprints of the firing alerts that want it
	Revert    *savedRevert `json:"revert,omitempty"`
}

type savedRevert struct {
	At       time.Time     `json:"at"`
	Hold     time.Duration `json:"hold"`
	AlertKey string        `json:"alert_key"`
	Alert    string        `json:"alert"`
	AndonID  string        `json:"andon_id,omitempty"`
}

type savedChange struct {
	Kind     Kind      `json:"kind"`
	Service  string    `json:"service"`
	Instance string    `json:"instance,omitempty"`
	At       time.Time `json:"at"`
}

// snapshotLocked encodes what is still in force, in a stable order so that
// an unchanged state encodes to the same bytes.
func (e *Engine) snapshotLocked() []byte {
	now := e.Now()
	st := savedState{Version: stateVersion, Active: []savedAction{}, Changes: []savedChange{}}
	for _, t := range slices.SortedFunc(maps.Keys(e.active), compareTargets) {
		a := e.active[t]
		if !now.Before(a.expires) {
			continue
		}
		sa := savedAction{Kind: t.kind, Service: t.service, Instance: t.instance, Request: a.req, AppliedAt: a.appliedAt, Expires: a.expires,
			DryRun: a.dryRun, Sources: slices.Sorted(maps.Keys(a.sources))}
		if p := a.revert; p != nil {
			sa.Revert = &savedRevert{At: p.at, Hold: p.hold, AlertKey: p.alert.Key, Alert: p.alert.Name, AndonID: p.alert.AndonID}
		}
		st.Active = append(st.Active, sa)
	}
	keep := e.maxCooldownLocked()
	for _, t := range slices.SortedFunc(maps.Keys(e.lastChange), compareTargets) {
		if at := e.lastChange[t]; now.Sub(at) < keep {
			st.Changes = append(st.Changes, savedChange{Kind: t.kind, Service: t.service, Instance: t.instance, At: at})
		}
	}
	b, _ := json.Marshal(st) // plain data: cannot fail
	return b
}

func compareTargets(a, b target) int {
	return cmp.Or(cmp.Compare(a.service, b.service), cmp.Compare(a.instance, b.instance), cmp.Compare(a.kind, b.kind))
}

// maxCooldownLocked is the longest cooldown of the policy: older changes no
// longer hold anything back.
func (e *Engine) maxCooldownLocked() time.Duration {
	d := time.Duration(e.pol.Defaults.Cooldown)
	for _, r := range e.pol.Rules {
		if r.Safety != nil {
			d = max(d, time.Duration(r.Safety.Cooldown))
		}
	}
	return d
}

// saveState stores the state when it changed since the last save. Saves are
// serialized so that an older snapshot never overwrites a newer one.
func (e *Engine) saveState(ctx context.Context) error {
	if e.store == nil {
		return nil
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	e.mu.Lock()
	doc := e.snapshotLocked()
	e.mu.Unlock()
	if string(doc) == string(e.saved) {
		return nil
	}
	if err := e.store.SaveState(context.WithoutCancel(ctx), doc); err != nil {
		e.log.Error("actuator state not saved: actions waiting for it are not executed", "err", err)
		return err
	}
	e.saved = doc
	return nil
}

// Restore loads a state saved by a previous run (call it before Handle):
// actions still in force become active again, with their sources, so a
// "resolved" reverts them; reverts that were waiting out the hold-down are
// rescheduled (at once when it has passed); cooldowns carry on.
func (e *Engine) Restore(doc []byte) error {
	var st savedState
	if err := json.Unmarshal(doc, &st); err != nil {
		return fmt.Errorf("actuator state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("actuator state has version %d, this andon knows %d: starting without it", st.Version, stateVersion)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.Now()
	for _, sa := range st.Active {
		if !now.Before(sa.Expires) {
			continue
		}
		t := target{sa.Kind, sa.Service, sa.Instance}
		a := &activeAction{req: sa.Request, appliedAt: sa.AppliedAt, expires: sa.Expires, dryRun: sa.DryRun, sources: map[string]bool{}}
		for _, f := range sa.Sources {
			a.sources[f] = true
		}
		e.active[t] = a
		if r := sa.Revert; r != nil && len(a.sources) == 0 {
			e.scheduleRevertLocked(t, a, &pendingRevert{at: r.At, hold: r.Hold, alert: Alert{Key: r.AlertKey, Name: r.Alert, AndonID: r.AndonID}})
		}
	}
	for _, c := range st.Changes {
		e.lastChange[target{c.Kind, c.Service, c.Instance}] = c.At
	}
	e.saved = e.snapshotLocked()
	return nil
}
