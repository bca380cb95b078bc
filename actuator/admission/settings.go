package admission

import (
	"context"
	"slices"
	"time"
)

// minSamples is the fewest arrivals a share estimate is based on; quieter
// windows are merged into the next one.
const minSamples = 50

// State returns the current settings, expired ones removed.
func (c *Controller) State() State {
	c.refresh()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked()
}

func (c *Controller) snapshotLocked() State {
	s := State{Now: c.cfg.Now()}
	if c.st.Shed != nil {
		sh := *c.st.Shed
		sh.Tiers = slices.Clone(sh.Tiers)
		s.Shed = &sh
	}
	if c.st.RejectNew != nil {
		rn := *c.st.RejectNew
		s.RejectNew = &rn
	}
	if c.st.Drain != nil {
		d := *c.st.Drain
		s.Drain = &d
	}
	return s
}

// Apply validates u and applies it; it returns the new state. Validation errors
// name the field; clearing a drain whose shutdown began returns ErrDrainStarted.
func (c *Controller) Apply(u Update) (State, error) {
	v, err := u.validate()
	if err != nil {
		return State{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	c.expireLocked(now)
	if v.ShedTiers != nil && v.ShedFraction == nil && c.st.Shed == nil {
		return State{}, errShedTiersAlone
	}
	if v.Drain != nil && !*v.Drain && c.drainStarted {
		return State{}, ErrDrainStarted
	}
	stamp := Setting{SetBy: v.SetBy, Reason: v.Reason, AndonID: v.AndonID, SetAt: now, ExpiresAt: now.Add(v.ttl)}

	switch {
	case v.ShedFraction != nil && *v.ShedFraction == 0:
		c.st.Shed = nil
	case v.ShedFraction != nil:
		tiers := v.ShedTiers
		if tiers == nil && c.st.Shed != nil {
			tiers = c.st.Shed.Tiers
		}
		if tiers == nil {
			tiers = DefaultShedTiers
		}
		c.st.Shed = &ShedSetting{Fraction: *v.ShedFraction, Tiers: slices.Clone(tiers), Setting: stamp}
		c.estimateSharesLocked(now)
	case v.ShedTiers != nil: // shedding is on: change its tiers, renewing when a ttl is given
		c.st.Shed.Tiers = slices.Clone(v.ShedTiers)
		if v.ttl > 0 {
			c.st.Shed.Setting = stamp
		}
	}
	if v.RejectNew != nil {
		c.st.RejectNew = nil
		if *v.RejectNew {
			c.st.RejectNew = &stamp
		}
	}
	if v.Drain != nil {
		switch {
		case !*v.Drain:
			c.stopDrainLocked()
		case c.st.Drain == nil:
			c.st.Drain = &stamp
			c.startDrainLocked()
		case !c.drainStarted:
			c.st.Drain = &stamp // renewal
		}
	}
	c.publishLocked(now)
	c.cfg.Logger.Info("admission settings changed", "set_by", v.SetBy, "reason", v.Reason, "andon_id", v.AndonID, "ttl", v.TTL)
	return c.snapshotLocked(), nil
}

// refresh expires settings and re-estimates tier shares when due; it returns
// the policy now in force.
func (c *Controller) refresh() *policy {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	if now.UnixNano() < c.pol.Load().recheckAt {
		return c.pol.Load() // another request refreshed first
	}
	c.expireLocked(now)
	if c.st.Shed != nil && !now.Before(c.nextEstimate) {
		c.estimateSharesLocked(now)
	}
	c.publishLocked(now)
	return c.pol.Load()
}

func (c *Controller) expireLocked(now time.Time) {
	expired := func(s *Setting) bool { return s != nil && !now.Before(s.ExpiresAt) }
	if c.st.Shed != nil && expired(&c.st.Shed.Setting) {
		c.st.Shed = nil
	}
	if expired(c.st.RejectNew) {
		c.st.RejectNew = nil
	}
	if expired(c.st.Drain) && !c.drainStarted { // a shutdown in progress cannot revert
		c.stopDrainLocked()
	}
}

// estimateSharesLocked turns the arrivals counted since the last estimate into
// each tier's share of traffic. With too few arrivals it keeps the previous
// shares (equal shares before any traffic) and keeps counting.
func (c *Controller) estimateSharesLocked(now time.Time) {
	var counts [numTiers + 1]uint64
	var total uint64
	for t := TierCritical; t <= TierBatch; t++ {
		counts[t] = c.arrivals[t].Load()
		total += counts[t]
	}
	c.nextEstimate = now.Add(c.cfg.ShedWindow)
	if total < minSamples {
		if c.shares == ([numTiers + 1]float64{}) {
			for t := TierCritical; t <= TierBatch; t++ {
				c.shares[t] = 1.0 / numTiers
			}
		}
		return
	}
	for t := TierCritical; t <= TierBatch; t++ {
		c.arrivals[t].Add(-counts[t])
		c.shares[t] = float64(counts[t]) / float64(total)
	}
}

// shedProbabilities implements the shedding semantics: fraction is the share of
// *total* traffic to drop, taken from the first listed tier and spilling into the
// next listed tier only when the earlier tiers' traffic is not enough. A listed
// tier with no observed traffic is dropped entirely (there is nothing to spare).
func shedProbabilities(fraction float64, tiers []Tier, shares [numTiers + 1]float64) [numTiers + 1]float64 {
	var p [numTiers + 1]float64
	remaining := fraction
	for _, t := range tiers {
		if remaining <= 1e-12 {
			break
		}
		if shares[t] <= remaining {
			p[t] = 1
			remaining -= shares[t]
			continue
		}
		p[t] = remaining / shares[t]
		remaining = 0
	}
	return p
}

// publishLocked rebuilds the request-path policy from the settings.
func (c *Controller) publishLocked(now time.Time) {
	p := &policy{recheckAt: 1<<63 - 1}
	earliest := func(t time.Time) {
		if ns := t.UnixNano(); ns < p.recheckAt {
			p.recheckAt = ns
		}
	}
	if s := c.st.Shed; s != nil {
		p.shedProb = shedProbabilities(s.Fraction, s.Tiers, c.shares)
		earliest(s.ExpiresAt)
		earliest(c.nextEstimate)
	}
	if s := c.st.RejectNew; s != nil {
		p.rejectNew = true
		earliest(s.ExpiresAt)
	}
	if s := c.st.Drain; s != nil {
		p.draining = true
		if !c.drainStarted {
			earliest(s.ExpiresAt)
		}
	}
	p.active = p.rejectNew || p.draining || c.st.Shed != nil
	if !p.active {
		p = inactive
	}
	c.pol.Store(p)
}

// startDrainLocked schedules the shutdown DrainGrace from now; clearing the
// drain before then cancels it.
func (c *Controller) startDrainLocked() {
	cancel := make(chan struct{})
	c.drainCancel = cancel
	c.cfg.Logger.Warn("draining: readiness is false, new requests are refused", "grace", c.cfg.DrainGrace, "deadline", c.cfg.DrainDeadline)
	go func() {
		grace := time.NewTimer(c.cfg.DrainGrace)
		defer grace.Stop()
		select {
		case <-cancel:
			return
		case <-grace.C:
		}
		c.mu.Lock()
		c.expireLocked(c.cfg.Now())
		if c.drainCancel != cancel {
			c.mu.Unlock()
			return
		}
		c.drainStarted = true
		c.publishLocked(c.cfg.Now())
		c.mu.Unlock()
		if c.cfg.Shutdown == nil {
			return
		}
		ctx, stop := context.WithTimeout(context.Background(), c.cfg.DrainDeadline)
		defer stop()
		if err := c.cfg.Shutdown(ctx); err != nil {
			c.cfg.Logger.Error("drain: graceful shutdown did not finish", "deadline", c.cfg.DrainDeadline, "err", err)
		}
	}()
}

func (c *Controller) stopDrainLocked() {
	if c.drainCancel != nil {
		close(c.drainCancel)
		c.drainCancel = nil
	}
	c.st.Drain = nil
}
