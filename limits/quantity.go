package limits

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Pos is a place in the spec file (1-based). Zero means "not from the file" (a default).
type Pos struct{ Line, Col int }

func posOf(n *yaml.Node) Pos { return Pos{Line: n.Line, Col: n.Column} }

// Duration is a Prometheus-style duration (30s, 5m, 1h30m, 1d, 4w) remembering where it was written.
type Duration struct {
	model.Duration
	Pos Pos
}

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d.Duration) }

// IsZero reports whether the duration was not set (or set to 0).
func (d Duration) IsZero() bool { return d.Duration == 0 }

// String formats the duration the way Prometheus does (1m30s, 1h, 1d).
func (d Duration) String() string { return d.Duration.String() }

// Dur builds a Duration from a time.Duration (for defaults).
func Dur(d time.Duration) Duration { return Duration{Duration: model.Duration(d)} }

// UnmarshalYAML parses a Prometheus-style duration and keeps its position.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &PosError{Pos: posOf(n), Msg: "expected a duration such as 30s, 5m or 1h"}
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return &PosError{Pos: posOf(n), Msg: fmt.Sprintf("invalid duration %q: use a number with a unit: ms, s, m, h, d, w, y (e.g. 30s, 5m, 1h30m)", n.Value)}
	}
	d.Duration, d.Pos = v, posOf(n)
	return nil
}

// Quantity is a number written in human units: 150ms, 0.5%, 350MB, 1MB/s, 70%, 10000.
// Raw keeps what was written; Value is filled in by validation in the unit of the signal.
type Quantity struct {
	Raw   string
	Value float64
	Pos   Pos
}

// UnmarshalYAML keeps the scalar as written; it is interpreted once the signal's unit is known.
func (q *Quantity) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return &PosError{Pos: posOf(n), Msg: "expected a number with an optional unit, such as 150ms, 0.5%, 350MB, 1MB/s or 10000"}
	}
	q.Raw, q.Pos = strings.TrimSpace(n.Value), posOf(n)
	return nil
}

var quantityRE = regexp.MustCompile(`^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(?:[eE]([+-]?[0-9]+))?\s*([A-Za-zµ%/]*)$`)

// dimension of a suffix, and how it scales the number.
type suffix struct {
	dim   string // "", "percent", "time", "bytes", "bytes/s", "/s"
	exp10 int    // decimal shift, applied exactly on the text
	mul   float64
}

var suffixes = map[string]suffix{
	"":    {dim: ""},
	"%":   {dim: "percent", exp10: -2},
	"ns":  {dim: "time", exp10: -9},
	"us":  {dim: "time", exp10: -6},
	"µs":  {dim: "time", exp10: -6},
	"ms":  {dim: "time", exp10: -3},
	"s":   {dim: "time"},
	"/s":  {dim: "/s"},
	"B":   {dim: "bytes"},
	"kB":  {dim: "bytes", exp10: 3},
	"KB":  {dim: "bytes", exp10: 3},
	"MB":  {dim: "bytes", exp10: 6},
	"GB":  {dim: "bytes", exp10: 9},
	"TB":  {dim: "bytes", exp10: 12},
	"KiB": {dim: "bytes", mul: 1 << 10},
	"MiB": {dim: "bytes", mul: 1 << 20},
	"GiB": {dim: "bytes", mul: 1 << 30},
	"TiB": {dim: "bytes", mul: 1 << 40},
}

// parseQuantity splits raw into its value in base units (seconds, bytes, a fraction for %) and
// the dimension of its suffix. The decimal shift is applied to the text so 0.5% is exactly the
// float nearest 0.005.
func parseQuantity(raw string) (float64, string, error) {
	m := quantityRE.FindStringSubmatch(raw)
	if m == nil {
		return 0, "", fmt.Errorf("%q is not a number with a unit (examples: 150ms, 0.5%%, 350MB, 1MB/s, 70%%, 10000)", raw)
	}
	unit := m[3]
	perSecond := false
	if strings.HasSuffix(unit, "/s") && unit != "/s" {
		unit, perSecond = strings.TrimSuffix(unit, "/s"), true
	}
	sfx, ok := suffixes[unit]
	if !ok || (perSecond && sfx.dim != "bytes") {
		return 0, "", fmt.Errorf("%q has an unknown unit %q (known: %%, ns, us, ms, s, B, kB, MB, GB, KiB, MiB, GiB, and bytes per second such as MB/s)", raw, m[3])
	}
	exp := 0
	if m[2] != "" {
		e, err := strconv.Atoi(m[2])
		if err != nil {
			return 0, "", fmt.Errorf("%q has an invalid exponent", raw)
		}
		exp = e
	}
	v, err := strconv.ParseFloat(m[1]+"e"+strconv.Itoa(exp+sfx.exp10), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, "", fmt.Errorf("%q is not a finite number", raw)
	}
	if sfx.mul != 0 {
		v *= sfx.mul
	}
	dim := sfx.dim
	if perSecond {
		dim = "bytes/s"
	}
	return v, dim, nil
}

// resolve interprets q in unit u, filling q.Value, or says why it cannot be read that way.
func (q *Quantity) resolve(u Unit) error {
	v, dim, err := parseQuantity(q.Raw)
	if err != nil {
		return err
	}
	want := map[Unit][]string{
		UnitRatio:       {"percent", ""},
		UnitPercent:     {"percent", ""},
		UnitSeconds:     {"time"},
		UnitBytes:       {"bytes"},
		UnitBytesPerSec: {"bytes/s"},
		UnitCount:       {""},
		UnitPerSecond:   {"", "/s"},
	}[u]
	for _, w := range want {
		if w != dim {
			continue
		}
		if u == UnitPercent && dim == "percent" {
			v *= 100 // the metric is 0..100: 70% compares with 70
			v, _ = strconv.ParseFloat(FormatNumber(v), 64)
		}
		q.Value = v
		return nil
	}
	hint := map[Unit]string{
		UnitRatio:       "a percentage such as 0.5% (or a fraction such as 0.005)",
		UnitPercent:     "a percentage such as 70%",
		UnitSeconds:     "a duration with a unit such as 150ms or 1s",
		UnitBytes:       "a size with a unit such as 350MB or 512MiB",
		UnitBytesPerSec: "a rate with a unit such as 1MB/s",
		UnitCount:       "a plain number such as 150",
		UnitPerSecond:   "a plain rate such as 5000 or 5000/s",
	}[u]
	return fmt.Errorf("%q does not fit unit %s: write %s", q.Raw, u, hint)
}

// FormatNumber prints v deterministically and without float noise: 12 significant digits at
// most, plain decimals where they are readable. 0.1+0.2 prints as 0.3.
func FormatNumber(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	if math.IsInf(v, -1) {
		return "-Inf"
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if a := math.Abs(r); r == 0 || (a >= 1e-6 && a < 1e15) {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}
