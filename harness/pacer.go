package harness

import (
	"context"
	"math"
	"runtime"
	"time"
)

// Pacer gives the intended request rate at each moment of an open-model run
// (like vegeta's Pacer; Options.Pacer replaces the profile's rate shape).
type Pacer interface {
	Rate(t time.Duration) float64
}

type constantPacer float64

func (c constantPacer) Rate(time.Duration) float64 { return float64(c) }

type rampPacer struct {
	from, to float64
	over     time.Duration
}

func (r rampPacer) Rate(t time.Duration) float64 {
	f := min(float64(t)/float64(r.over), 1)
	return r.from + (r.to-r.from)*f
}

type stepPacer []Step

func (s stepPacer) Rate(t time.Duration) float64 {
	for _, st := range s {
		if t < st.For {
			return st.RPS
		}
		t -= st.For
	}
	return s[len(s)-1].RPS
}

type sinePacer struct {
	mean, amplitude float64
	period          time.Duration
}

func (s sinePacer) Rate(t time.Duration) float64 {
	return s.mean + s.amplitude*math.Sin(2*math.Pi*float64(t)/float64(s.period))
}

// NewPacer builds the pacer of a validated open-model profile.
func NewPacer(p *Profile) Pacer {
	switch p.Rate.Shape {
	case ShapeRamp:
		return rampPacer{from: p.Rate.From, to: p.Rate.To, over: p.Duration}
	case ShapeSteps:
		return stepPacer(p.Rate.Steps)
	case ShapeSine:
		return sinePacer{mean: p.Rate.RPS, amplitude: p.Rate.Amplitude, period: p.Rate.Period}
	}
	return constantPacer(p.Rate.RPS)
}

// nextHit returns the intended offset of the request after the one at t: one
// interval of the rate at the interval's midpoint, so ramps and sines are
// followed closely. Where the rate is zero it moves on in 1 ms steps, up to end.
func nextHit(p Pacer, t, end time.Duration) time.Duration {
	for t < end {
		r := p.Rate(t)
		if r > 0 {
			dt := time.Duration(math.Round(float64(time.Second) / r))
			if mid := p.Rate(t + dt/2); mid > 0 {
				dt = time.Duration(math.Round(float64(time.Second) / mid))
			}
			return t + max(dt, 1)
		}
		t += time.Millisecond
	}
	return end
}

// sleepUntil waits until at; false when ctx ended first. A precise wait
// ends within microseconds of at: the Go runtime sleeps in whole-millisecond
// steps when idle (its poller's timeout is in milliseconds), which would put
// up to 1 ms of the harness's own dispatch delay into every CO-corrected
// latency. So the last 2 ms are a yield (the worker just fed runs first),
// a kernel nanosleep of this thread, and a spin of the final 50 µs (at most
// 5% of a core at 1,000 slots/s). Nothing is subtracted from any latency.
// Only the open model's single scheduler asks for precision: it blocks an OS
// thread.
func sleepUntil(ctx context.Context, at time.Time, precise bool) bool {
	yielded := false
	for {
		d := time.Until(at)
		if d <= 0 {
			return ctx.Err() == nil
		}
		if precise && d <= preciseWindow {
			if !yielded {
				// Let the worker just handed a slot run on this P now,
				// rather than wait for another thread to steal it while
				// this one sleeps in the kernel.
				runtime.Gosched()
				yielded = true
				continue
			}
			if d > spinWindow {
				kernelSleep(d - spinWindow)
				continue
			}
			for time.Now().Before(at) {
				// The last few tens of µs: a thread woken from the kernel
				// needs a CPU again, so it wakes early and spins.
			}
			continue
		}
		if precise {
			d -= preciseWindow
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
}

// preciseWindow is the runtime's sleep granularity plus its usual overshoot;
// spinWindow is a kernel wake-up's usual lateness.
const (
	preciseWindow = 2 * time.Millisecond
	spinWindow    = 50 * time.Microsecond
)
