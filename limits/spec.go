// Package limits defines the operating-limits spec: its types, loading (strict YAML with
// file:line:col errors), defaults, validation and the canonical names every other package uses.
package limits

import (
	"math/big"
	"strings"
	"time"
)

// Level is an andon level. Green is "no alert firing" and has no value of its own.
type Level string

const (
	Yellow    Level = "yellow"
	Red       Level = "red"
	Emergency Level = "emergency"
)

// Levels in escalating order.
var Levels = []Level{Yellow, Red, Emergency}

// Kind is the kind of a signal: how its value is computed from raw series.
type Kind string

const (
	KindRatio   Kind = "ratio"   // sum(rate(errors)) / sum(rate(total))
	KindLatency Kind = "latency" // histogram_quantile over a classic or native histogram
	KindGauge   Kind = "gauge"   // a gauge as it is (connections, queue depth, memory, percent)
	KindRate    Kind = "rate"    // rate of a counter, e.g. CPU seconds → utilisation
	KindGrowth  Kind = "growth"  // deriv of a gauge, e.g. memory growth in bytes/s
)

// Kinds lists every signal kind.
var Kinds = []Kind{KindRatio, KindLatency, KindGauge, KindRate, KindGrowth}

// Unit is the unit of a signal's value as Prometheus sees it.
type Unit string

const (
	UnitRatio       Unit = "ratio"   // 0..1
	UnitPercent     Unit = "percent" // 0..100
	UnitSeconds     Unit = "seconds" //
	UnitBytes       Unit = "bytes"   //
	UnitBytesPerSec Unit = "bytes_per_second"
	UnitCount       Unit = "count"      // plain number
	UnitPerSecond   Unit = "per_second" // a plain rate
)

// Direction says which side of a threshold is abnormal.
type Direction string

const (
	Above Direction = "above"
	Below Direction = "below"
)

// ActionKind is what the receiver does when an alert fires.
type ActionKind string

const (
	ActionPage      ActionKind = "page"
	ActionShed      ActionKind = "shed"
	ActionRejectNew ActionKind = "reject_new"
	ActionDrain     ActionKind = "drain"
	ActionAndon     ActionKind = "andon"
)

// ActionKinds lists every action in escalation order.
var ActionKinds = []ActionKind{ActionPage, ActionShed, ActionRejectNew, ActionDrain, ActionAndon}

// Severity values, compatible with mixtool lint.
const (
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Spec is one service's operating limits.
type Spec struct {
	File string `yaml:"-"`

	Service            string            `yaml:"service"`
	Description        string            `yaml:"description"`
	Labels             map[string]string `yaml:"labels"`
	Selector           string            `yaml:"selector"`
	GroupBy            []string          `yaml:"group_by"`
	ScrapeInterval     Duration          `yaml:"scrape_interval"`
	EvaluationInterval Duration          `yaml:"evaluation_interval"`
	RunbookURL         string            `yaml:"runbook_url"`
	DashboardURL       string            `yaml:"dashboard_url"`
	Levels             LevelSet          `yaml:"levels"`
	Signals            []*Signal         `yaml:"signals"`
	SLO                *SLO              `yaml:"slo"`
	NoData             NoData            `yaml:"no_data"`
	Alertmanager       AlertmanagerSpec  `yaml:"alertmanager"`

	Pos Pos `yaml:"-"`
}

// ByLevel holds one value per andon level; a level may be absent (nil).
type ByLevel[T any] struct {
	Yellow    *T `yaml:"yellow"`
	Red       *T `yaml:"red"`
	Emergency *T `yaml:"emergency"`
}

// Get returns the value at level l, or nil.
func (b *ByLevel[T]) Get(l Level) *T { return *b.ptr(l) }

func (b *ByLevel[T]) ptr(l Level) **T {
	switch l {
	case Yellow:
		return &b.Yellow
	case Red:
		return &b.Red
	}
	return &b.Emergency
}

// LevelSet holds the three levels' behaviour.
type LevelSet = ByLevel[LevelSpec]

// LevelSpec is what a level means: how long it must hold, how long it keeps firing, who is told
// and what the receiver does.
type LevelSpec struct {
	For           Duration `yaml:"for"`
	KeepFiringFor Duration `yaml:"keep_firing_for"`
	Severity      string   `yaml:"severity"`
	Actions       []Action `yaml:"actions"`
	Windows       Windows  `yaml:"windows"`

	Pos Pos `yaml:"-"`
}

// Windows are the two rate windows of a level: the short one reacts, the long one confirms.
type Windows struct {
	Short Duration `yaml:"short"`
	Long  Duration `yaml:"long"`
}

// Action is one thing the receiver does. Fraction and Tiers are set for shed only.
type Action struct {
	Kind     ActionKind
	Fraction float64
	Tiers    []int
	Pos      Pos
}

// Signal is one measured quantity of the service and its thresholds per level.
type Signal struct {
	Name        string    `yaml:"name"`
	Kind        Kind      `yaml:"kind"`
	Description string    `yaml:"description"`
	Unit        Unit      `yaml:"unit"`
	Direction   Direction `yaml:"direction"`

	// ratio
	Errors  string    `yaml:"errors"`
	Total   string    `yaml:"total"`
	MinRate *Quantity `yaml:"min_rate"`

	// latency
	Histogram string  `yaml:"histogram"`
	Native    bool    `yaml:"native"`
	Quantile  float64 `yaml:"quantile"`

	// gauge, rate, growth
	Metric    string   `yaml:"metric"`
	Aggregate string   `yaml:"aggregate"`
	Cores     float64  `yaml:"cores"`
	Window    Duration `yaml:"window"`

	Thresholds Thresholds `yaml:"thresholds"`

	Pos Pos `yaml:"-"`
}

// Thresholds of a signal by level; a level that is absent does not alert for this signal.
type Thresholds = ByLevel[Threshold]

// Threshold is a limit in human units, with optional per-signal overrides of the level's timing.
type Threshold struct {
	Value         Quantity  `yaml:"value"`
	For           *Duration `yaml:"for"`
	KeepFiringFor *Duration `yaml:"keep_firing_for"`

	Pos Pos `yaml:"-"`
}

// SLO is an availability objective over a period, judged from a ratio signal.
type SLO struct {
	Objective Quantity     `yaml:"objective"`
	Period    Duration     `yaml:"period"`
	Signal    string       `yaml:"signal"`
	Windows   []BurnWindow `yaml:"windows"`

	Pos Pos `yaml:"-"`
}

// BurnWindow is one multiwindow burn-rate alert: the long window, the fraction of the period's
// budget it may consume (the factor follows), and what firing means.
type BurnWindow struct {
	Long           Duration `yaml:"long"`
	Short          Duration `yaml:"short"`
	BudgetConsumed Quantity `yaml:"budget_consumed"`
	Level          Level    `yaml:"level"`
	For            Duration `yaml:"for"`
	Actions        []Action `yaml:"actions"`

	Pos Pos `yaml:"-"`
}

// NoData configures the alerts for a service whose series vanished or whose targets are down.
type NoData struct {
	Disabled bool     `yaml:"disabled"`
	For      Duration `yaml:"for"`
	Level    Level    `yaml:"level"`
	Actions  []Action `yaml:"actions"`
}

// Budget is the error budget as a ratio (1 − objective), computed in decimal so 99.99966% gives
// exactly 3.4e-06 and not 3.399999999986747e-06.
func (s *SLO) Budget() float64 {
	raw := strings.TrimSpace(s.Objective.Raw)
	scale := big.NewRat(1, 1)
	if strings.HasSuffix(raw, "%") {
		raw, scale = strings.TrimSuffix(raw, "%"), big.NewRat(1, 100)
	}
	r, ok := new(big.Rat).SetString(raw)
	if !ok {
		return 1 - s.Objective.Value
	}
	b, _ := new(big.Rat).Sub(big.NewRat(1, 1), r.Mul(r, scale)).Float64()
	return b
}

// Factor is the burn-rate factor of w: budget fraction × period ÷ long window (SRE Workbook).
func (w *BurnWindow) Factor(period time.Duration) float64 {
	return w.BudgetConsumed.Value * float64(period) / float64(w.Long.D())
}
