package limits

import "time"

// Default values, in one place so the README's reference and the code agree.
const (
	DefaultScrapeInterval = 15 * time.Second
	DefaultSLOPeriod      = 30 * 24 * time.Hour
	DefaultGrowthWindow   = 5 * time.Minute
	DefaultNoDataFor      = 5 * time.Minute
	DefaultMinRate        = "1" // requests per second below which a ratio is not judged
	// DefaultMinEvents: failed requests a long window must hold before a ratio or burn alert may
	// fire. Three, so that one or two failed requests never page or open an andon at any traffic.
	DefaultMinEvents    = "3"
	DefaultShedFraction = 0.5
	DefaultBurnFor      = time.Minute
)

// DefaultShedTiers sheds batch (3) before normal (2); critical (1) only when listed.
var DefaultShedTiers = []int{3, 2}

// defaultLevels: `for` sized to the level, windows short enough that a step just above the red
// threshold (0.6% against 0.5%) fires within about two minutes of onset, and long enough to hold
// four scrapes (MinRateWindowSamples) at the default scrape interval.
func defaultLevels() map[Level]LevelSpec {
	shed := Action{Kind: ActionShed, Fraction: DefaultShedFraction, Tiers: DefaultShedTiers}
	return map[Level]LevelSpec{
		Yellow: {For: Dur(time.Minute), KeepFiringFor: Dur(5 * time.Minute), Severity: SeverityWarning,
			Actions: []Action{{Kind: ActionPage}}, Windows: Windows{Short: Dur(time.Minute), Long: Dur(3 * time.Minute)}},
		Red: {For: Dur(30 * time.Second), KeepFiringFor: Dur(5 * time.Minute), Severity: SeverityCritical,
			Actions: []Action{{Kind: ActionPage}, shed, {Kind: ActionRejectNew}, {Kind: ActionAndon}},
			Windows: Windows{Short: Dur(time.Minute), Long: Dur(90 * time.Second)}},
		// Emergency drains the instance: its long window holds 2 minutes, so that at low traffic
		// (2 req/s with 1.5% errors: a failure every 33 s) it holds min_events failures.
		Emergency: {For: Dur(30 * time.Second), KeepFiringFor: Dur(5 * time.Minute), Severity: SeverityCritical,
			Actions: []Action{{Kind: ActionPage}, {Kind: ActionDrain}, {Kind: ActionAndon}},
			Windows: Windows{Short: Dur(time.Minute), Long: Dur(2 * time.Minute)}},
	}
}

// DefaultBurnWindows are the SRE Workbook's multiwindow, multi-burn-rate alerts: the share of the
// period's budget each long window may consume. The factor follows from the period
// (2% of a 30d budget in 1h is a burn rate of 14.4).
func DefaultBurnWindows() []BurnWindow {
	w := func(long time.Duration, consumed string, l Level, actions ...ActionKind) BurnWindow {
		bw := BurnWindow{Long: Dur(long), BudgetConsumed: Quantity{Raw: consumed}, Level: l}
		for _, a := range actions {
			bw.Actions = append(bw.Actions, Action{Kind: a})
		}
		return bw
	}
	return []BurnWindow{
		w(time.Hour, "2%", Red, ActionPage, ActionAndon),
		w(6*time.Hour, "5%", Red, ActionPage, ActionAndon),
		w(24*time.Hour, "10%", Yellow, ActionPage),
		w(72*time.Hour, "10%", Yellow, ActionPage),
	}
}

func applyDefaults(s *Spec) {
	setDur(&s.ScrapeInterval, Dur(DefaultScrapeInterval))
	setDur(&s.EvaluationInterval, Dur(s.ScrapeInterval.D()))
	scrape := s.ScrapeInterval.D()
	defs := defaultLevels()
	for _, l := range Levels {
		p := s.Levels.ptr(l)
		if *p == nil {
			*p = &LevelSpec{}
		}
		ls, def := *p, defs[l]
		setDur(&ls.For, Dur(max(def.For.D(), 2*s.EvaluationInterval.D()))) // two evaluations at least
		setDur(&ls.KeepFiringFor, def.KeepFiringFor)
		if ls.Severity == "" {
			ls.Severity = def.Severity
		}
		if ls.Actions == nil {
			ls.Actions = def.Actions
		}
		// Default windows grow with a slow scrape so they always hold four samples or more.
		setDur(&ls.Windows.Short, Dur(max(def.Windows.Short.D(), MinRateWindowSamples*scrape)))
		setDur(&ls.Windows.Long, Dur(max(def.Windows.Long.D(), ls.Windows.Short.D()+2*scrape)))
		for i := range ls.Actions {
			if a := &ls.Actions[i]; a.Kind == ActionShed {
				if a.Fraction == 0 {
					a.Fraction = DefaultShedFraction
				}
				if a.Tiers == nil {
					a.Tiers = DefaultShedTiers
				}
			}
		}
	}
	for _, sig := range s.Signals {
		if sig.Direction == "" {
			sig.Direction = Above
		}
		if sig.Unit == "" {
			sig.Unit = map[Kind]Unit{KindRatio: UnitRatio, KindLatency: UnitSeconds, KindGauge: UnitCount,
				KindRate: UnitPerSecond, KindGrowth: UnitBytesPerSec}[sig.Kind]
		}
		if sig.Kind == KindRatio && sig.MinRate == nil {
			sig.MinRate = &Quantity{Raw: DefaultMinRate}
		}
		if sig.Kind == KindRatio && sig.MinEvents == nil {
			sig.MinEvents = &Quantity{Raw: DefaultMinEvents}
		}
		if sig.Aggregate == "" {
			sig.Aggregate = "sum"
			if sig.Kind == KindGauge {
				sig.Aggregate = "max"
			}
		}
		if sig.Kind == KindGrowth {
			setDur(&sig.Window, Dur(DefaultGrowthWindow))
		}
		if sig.Kind == KindRate && sig.Cores == 0 {
			sig.Cores = 1
		}
	}
	if s.SLO != nil {
		setDur(&s.SLO.Period, Dur(DefaultSLOPeriod))
		if s.SLO.MinEvents == nil {
			s.SLO.MinEvents = &Quantity{Raw: DefaultMinEvents}
		}
		if s.SLO.Windows == nil {
			s.SLO.Windows = DefaultBurnWindows()
		}
		for i := range s.SLO.Windows {
			w := &s.SLO.Windows[i]
			setDur(&w.Short, Dur(w.Long.D()/12))
			if w.Level == "" {
				w.Level = Red
			}
			setDur(&w.For, Dur(max(DefaultBurnFor, 2*s.EvaluationInterval.D())))
			if ls := s.Levels.Get(w.Level); ls != nil {
				setDur(&w.KeepFiringFor, ls.KeepFiringFor) // hysteresis as the level's limits have it
			}
			if w.Actions == nil {
				w.Actions = []Action{{Kind: ActionPage}}
			}
		}
	}
	if !s.NoData.Disabled {
		setDur(&s.NoData.For, Dur(DefaultNoDataFor))
		if s.NoData.Level == "" {
			// Yellow: a vanished series or a down target pages, non-urgently. The burn-rate and
			// limit alerts of what still reports carry the urgent pages; no-data on every raw
			// metric at critical made most of a spec's alerts critical.
			s.NoData.Level = Yellow
		}
		if s.NoData.Actions == nil {
			s.NoData.Actions = []Action{{Kind: ActionPage}}
		}
	}
}

// setDur fills d with def unless the file set it (a written 0s stays, for validation to reject).
func setDur(d *Duration, def Duration) {
	if d.IsZero() && d.Pos.Line == 0 {
		*d = def
	}
}
