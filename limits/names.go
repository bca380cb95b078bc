package limits

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// The one place series and alert names are spelled. rulegen, dashboards and promtest ask here.

// Info series that expose the limits themselves, so dashboards can draw thresholds from data.
const (
	ThresholdSeries = "andon:limit:threshold" // {service, signal, level, direction, unit} = threshold
	ObjectiveSeries = "andon:slo:objective"   // {service, signal} = objective ratio
)

// Label keys every generated alert carries.
const (
	LabelService    = "service"
	LabelSignal     = "signal"
	LabelLevel      = "level"
	LabelSeverity   = "severity"
	LabelAction     = "action"
	LabelBurnWindow = "burn_window"
	LabelDirection  = "direction"
	LabelUnit       = "unit"
)

// Signal label values of the alerts that are not about one spec signal.
const (
	SignalSLO    = "slo"
	SignalUp     = "up"
	SignalAbsent = "absent"
)

// Annotation keys the actuator reads.
const (
	AnnotationShedFraction = "shed_fraction"
	AnnotationShedTiers    = "shed_tiers"
	AnnotationAndonType    = "andon_type"
)

// Andon failure types of generated alerts.
const (
	AndonTypeOperatingLimit = "operating_limit"
	AndonTypeSLOBurn        = "slo_burn"
)

// Aggregation is the `level` part of recording rule names: the labels kept.
func (s *Spec) Aggregation() string {
	if len(s.GroupBy) == 0 {
		return "service"
	}
	return "service_" + strings.Join(s.GroupBy, "_")
}

// series builds level:metric:operation.
func (s *Spec) series(metric, op string) string {
	return s.Aggregation() + ":" + s.Service + "_" + metric + ":" + op
}

// WindowName prints a window the way series names carry it: 30s, 1m30s, 1h, 1d.
func WindowName(d time.Duration) string { return model.Duration(d).String() }

// RatioSeries is the recorded error ratio of a ratio signal over w.
func (s *Spec) RatioSeries(sig *Signal, w time.Duration) string {
	return s.series(sig.Name, "ratio_rate"+WindowName(w))
}

// ErrorsRateSeries is the recorded rate of the errors counter of a ratio signal.
func (s *Spec) ErrorsRateSeries(sig *Signal, w time.Duration) string {
	return s.series(sig.Name+"_errors", "rate"+WindowName(w))
}

// TotalRateSeries is the recorded rate of the total counter of a ratio signal (its traffic).
func (s *Spec) TotalRateSeries(sig *Signal, w time.Duration) string {
	return s.series(sig.Name+"_total", "rate"+WindowName(w))
}

// QuantileSeries is the recorded latency quantile of a latency signal over w.
func (s *Spec) QuantileSeries(sig *Signal, w time.Duration) string {
	return s.series(sig.Name, QuantileName(sig.Quantile)+"_rate"+WindowName(w))
}

// QuantileName prints 0.95 as p95, 0.999 as p999, 0.5 as p50.
func QuantileName(q float64) string {
	digits := strings.TrimPrefix(strconv.FormatFloat(q, 'f', -1, 64), "0.")
	if len(digits) == 1 {
		digits += "0"
	}
	return "p" + digits
}

// GaugeSeries is the recorded, aggregated value of a gauge signal.
func (s *Spec) GaugeSeries(sig *Signal) string { return s.series(sig.Name, sig.Aggregate) }

// RateSeries is the recorded rate (in the signal's unit) of a counter-rate signal over w.
func (s *Spec) RateSeries(sig *Signal, w time.Duration) string {
	return s.series(sig.Name, "rate"+WindowName(w))
}

// GrowthSeries is the recorded derivative of a growth signal.
func (s *Spec) GrowthSeries(sig *Signal) string {
	return s.series(sig.Name, "deriv"+WindowName(sig.Window.D()))
}

// SLOAggregation is the `level` part of the SLO's recorded series: the SLO is judged per service
// (all instances together) unless slo.group_by names labels.
func (s *Spec) SLOAggregation() string {
	if len(s.SLO.GroupBy) == 0 {
		return "service"
	}
	return "service_" + strings.Join(s.SLO.GroupBy, "_")
}

func (s *Spec) sloSeries(metric, op string) string {
	return s.SLOAggregation() + ":" + s.Service + "_" + metric + ":" + op
}

// SLOErrorsRateSeries is the recorded rate of the SLO signal's errors counter, by slo.group_by.
func (s *Spec) SLOErrorsRateSeries(w time.Duration) string {
	return s.sloSeries(s.SLO.Signal+"_errors", "rate"+WindowName(w))
}

// SLOTotalRateSeries is the recorded rate of the SLO signal's total counter, by slo.group_by.
func (s *Spec) SLOTotalRateSeries(w time.Duration) string {
	return s.sloSeries(s.SLO.Signal+"_total", "rate"+WindowName(w))
}

// SLORatioSeries is the recorded error ratio of the SLO signal over w, by slo.group_by.
func (s *Spec) SLORatioSeries(w time.Duration) string {
	return s.sloSeries(s.SLO.Signal, "ratio_rate"+WindowName(w))
}

// BurnRateSeries is the recorded burn rate (error ratio ÷ budget) of the SLO over w.
func (s *Spec) BurnRateSeries(w time.Duration) string {
	return s.sloSeries(s.SLO.Signal, "burnrate"+WindowName(w))
}

// ValueSeries is the recorded series of a signal's value over rate window w (ignored by gauges and
// growths, which have no or their own window): the line a dashboard draws and the left side of
// an alert's comparison.
func (s *Spec) ValueSeries(sig *Signal, w time.Duration) string {
	switch sig.Kind {
	case KindRatio:
		return s.RatioSeries(sig, w)
	case KindLatency:
		return s.QuantileSeries(sig, w)
	case KindRate:
		return s.RateSeries(sig, w)
	case KindGrowth:
		return s.GrowthSeries(sig)
	}
	return s.GaugeSeries(sig)
}

// Levels returns the levels sig has a threshold at, in escalating order.
func (sig *Signal) Levels() []Level {
	var ls []Level
	for _, l := range Levels {
		if sig.Thresholds.Get(l) != nil {
			ls = append(ls, l)
		}
	}
	return ls
}

// JoinLevels prints levels for people: "yellow, red, emergency".
func JoinLevels(ls []Level) string { return commaList(ls) }

// Windowed reports whether the signal is judged over the levels' short and long windows.
func (sig *Signal) Windowed() bool {
	return sig.Kind == KindRatio || sig.Kind == KindLatency || sig.Kind == KindRate
}

// CamelCase turns snake_case into CamelCase: error_ratio → ErrorRatio.
func CamelCase(s string) string {
	var b strings.Builder
	for _, part := range strings.Split(s, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// AlertName is the name of the alert of signal sig at level l.
func (s *Spec) AlertName(sig *Signal, l Level) string {
	return CamelCase(s.Service) + CamelCase(sig.Name) + CamelCase(string(l))
}

// BurnAlertName is the name of the SLO burn-rate alerts (one per window pair, told apart by burn_window).
func (s *Spec) BurnAlertName() string { return CamelCase(s.Service) + "ErrorBudgetBurn" }

// TargetDownAlertName fires when a scrape target of the service is down.
func (s *Spec) TargetDownAlertName() string { return CamelCase(s.Service) + "TargetDown" }

// AbsentAlertName fires when a signal's series vanished.
func (s *Spec) AbsentAlertName() string { return CamelCase(s.Service) + "SeriesAbsent" }

// BurnWindowName is the stable label value naming a window pair: 1h_5m.
func BurnWindowName(w *BurnWindow) string {
	return WindowName(w.Long.D()) + "_" + WindowName(w.Short.D())
}

// For returns how long sig must be beyond its level-l threshold before the alert fires.
func (s *Spec) For(sig *Signal, l Level) time.Duration {
	if t := sig.Thresholds.Get(l); t != nil && t.For != nil {
		return t.For.D()
	}
	return s.Levels.Get(l).For.D()
}

// KeepFiringFor returns the hysteresis of sig's level-l alert.
func (s *Spec) KeepFiringFor(sig *Signal, l Level) time.Duration {
	if t := sig.Thresholds.Get(l); t != nil && t.KeepFiringFor != nil {
		return t.KeepFiringFor.D()
	}
	return s.Levels.Get(l).KeepFiringFor.D()
}

// ActionLabel is the `action` label value: the ordered, comma-separated action kinds.
func ActionLabel(as []Action) string {
	if len(as) == 0 {
		return "none"
	}
	kinds := make([]string, 0, len(as))
	for _, k := range ActionKinds {
		for _, a := range as {
			if a.Kind == k {
				kinds = append(kinds, string(k))
			}
		}
	}
	return strings.Join(kinds, ",")
}

// String names the action for people: its kind, or for shed "shed 50% of tiers 3,2".
func (a Action) String() string {
	if a.Kind == ActionShed {
		return fmt.Sprintf("shed %s%% of tiers %s", FormatNumber(a.Fraction*100), TiersString(a.Tiers))
	}
	return string(a.Kind)
}

// ShedOf returns the shed action among as, if any.
func ShedOf(as []Action) *Action {
	for i := range as {
		if as[i].Kind == ActionShed {
			return &as[i]
		}
	}
	return nil
}

// TiersString prints tiers as the shed_tiers annotation carries them: 3,2.
func TiersString(tiers []int) string {
	parts := make([]string, len(tiers))
	for i, t := range tiers {
		parts[i] = strconv.Itoa(t)
	}
	return strings.Join(parts, ",")
}

// FormatThreshold prints a threshold's value in the signal's unit for humans: 150ms, 0.5%, 350MB.
func FormatThreshold(sig *Signal, v float64) string {
	switch sig.Unit {
	case UnitRatio:
		return FormatNumber(v*100) + "%"
	case UnitPercent:
		return FormatNumber(v) + "%"
	case UnitSeconds:
		if v < 1 {
			return FormatNumber(v*1000) + "ms"
		}
		return FormatNumber(v) + "s"
	case UnitBytes:
		return humanBytes(v)
	case UnitBytesPerSec:
		return humanBytes(v) + "/s"
	case UnitPerSecond:
		return FormatNumber(v) + "/s"
	}
	return FormatNumber(v)
}

func humanBytes(v float64) string {
	for _, u := range []struct {
		n string
		f float64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if v >= u.f {
			return FormatNumber(v/u.f) + u.n
		}
	}
	return fmt.Sprintf("%sB", FormatNumber(v))
}
