package limits

import (
	"math"
	"strings"
	"testing"
)

func TestQuantityResolve(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		unit Unit
		want float64
	}{
		{"0.5% is exactly the float nearest 0.005", "0.5%", UnitRatio, 0.005},
		{"0.05% is exactly 0.0005", "0.05%", UnitRatio, 0.0005},
		{"a ratio may be written as a fraction", "0.005", UnitRatio, 0.005},
		{"99.99966% is exactly 0.9999966", "99.99966%", UnitRatio, 0.9999966},
		{"150ms is 0.15 seconds", "150ms", UnitSeconds, 0.15},
		{"1s is one second", "1s", UnitSeconds, 1},
		{"250us is 0.00025 seconds", "250us", UnitSeconds, 0.00025},
		{"µs is accepted as micro", "3µs", UnitSeconds, 0.000003},
		{"350MB is decimal megabytes", "350MB", UnitBytes, 350e6},
		{"512MiB is binary megabytes", "512MiB", UnitBytes, 512 << 20},
		{"1MB/s is a byte rate", "1MB/s", UnitBytesPerSec, 1e6},
		{"70% of a percent metric is 70", "70%", UnitPercent, 70},
		{"0.7% of a percent metric is 0.7 without float noise", "0.7%", UnitPercent, 0.7},
		{"a plain number is a count", "10000", UnitCount, 10000},
		{"an exponent is applied exactly", "1.5e3", UnitCount, 1500},
		{"a rate may carry /s", "5000/s", UnitPerSecond, 5000},
		{"a space before the unit is accepted", "150 ms", UnitSeconds, 0.15},
		{"a leading dot is a number", ".5", UnitCount, 0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := Quantity{Raw: tc.raw}
			if err := q.resolve(tc.unit); err != nil {
				t.Fatal(err)
			}
			if q.Value != tc.want {
				t.Errorf("%s in %s = %v (%s), want %v", tc.raw, tc.unit, q.Value, FormatNumber(q.Value), tc.want)
			}
		})
	}
}

func TestQuantityResolveRejects(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		unit Unit
		msg  string
	}{
		{"a latency without a unit", "150", UnitSeconds, "does not fit unit seconds"},
		{"a size without a unit", "350", UnitBytes, "does not fit unit bytes"},
		{"a duration as a ratio", "5ms", UnitRatio, "does not fit unit ratio"},
		{"a percentage as a count", "5%", UnitCount, "does not fit unit count"},
		{"an unknown unit", "5 parsecs", UnitCount, `unknown unit "parsecs"`},
		{"a per-second time", "5ms/s", UnitSeconds, `unknown unit "ms/s"`},
		{"words", "lots", UnitCount, "is not a number with a unit"},
		{"NaN", "NaN", UnitCount, "is not a number with a unit"},
		{"infinity", "Inf", UnitCount, "is not a number with a unit"},
		{"an overflow", "1e309", UnitCount, "is not a finite number"},
		{"an exponent too large for an int", "1e99999999999999999999", UnitCount, "invalid exponent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := Quantity{Raw: tc.raw}
			err := q.resolve(tc.unit)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("%q in %s: got %v, want an error containing %q", tc.raw, tc.unit, err, tc.msg)
			}
		})
	}
}

func TestFormatNumber(t *testing.T) {
	cases := []struct {
		name string
		v    float64
		want string
	}{
		{"0.1+0.2 prints as 0.3", 0.1 + 0.2, "0.3"},
		{"1-0.999 prints without noise", 1 - 0.999, "0.001"},
		{"a Six Sigma budget computed in floats prints as 0.0000034", 1 - 0.9999966, "0.0000034"},
		{"14.4 stays 14.4", 0.02 * 720, "14.4"},
		{"integers print plainly", 10000, "10000"},
		{"large numbers print plainly below 1e15", 350e6, "350000000"},
		{"1e15 switches to exponent form", 1e15, "1e+15"},
		{"zero is 0", 0, "0"},
		{"negative numbers keep their sign", -0.5, "-0.5"},
		{"small numbers down to 1e-6 are plain decimals", 0.000005, "0.000005"},
		{"smaller ones use an exponent", 5e-7, "5e-07"},
		{"+Inf prints as Prometheus writes it", math.Inf(1), "+Inf"},
		{"-Inf prints as Prometheus writes it", math.Inf(-1), "-Inf"},
		{"12 significant digits at most", 1.0 / 3, "0.333333333333"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := FormatNumber(tc.v); got != tc.want {
				t.Errorf("FormatNumber(%v) = %q, want %q", tc.v, got, tc.want)
			}
		})
	}
}

func TestBudget(t *testing.T) {
	cases := []struct {
		name      string
		objective string
		want      float64
		printed   string
	}{
		{"Six Sigma's 99.99966% leaves exactly 3.4e-06", "99.99966%", 3.4e-06, "0.0000034"},
		{"99.9% leaves 0.001", "99.9%", 0.001, "0.001"},
		{"a fraction objective works the same", "0.999", 0.001, "0.001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			slo := &SLO{Objective: Quantity{Raw: tc.objective}}
			if err := slo.Objective.resolve(UnitRatio); err != nil {
				t.Fatal(err)
			}
			if got := slo.Budget(); got != tc.want || FormatNumber(got) != tc.printed {
				t.Errorf("budget of %s = %v (%s), want %v", tc.objective, got, FormatNumber(got), tc.want)
			}
		})
	}
}

func TestBurnFactor(t *testing.T) {
	cases := []struct {
		name     string
		long     string
		consumed string
		want     string
	}{
		{"2% of a 30d budget in 1h is a burn of 14.4", "1h", "2%", "14.4"},
		{"5% of a 30d budget in 6h is a burn of 6", "6h", "5%", "6"},
		{"10% of a 30d budget in 1d is a burn of 3", "1d", "10%", "3"},
		{"10% of a 30d budget in 3d is a burn of 1", "3d", "10%", "1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, _, err := Parse("slo.yaml", []byte(base+"slo:\n  objective: 99.9%\n  signal: errs\n  windows: [{long: "+tc.long+", budget_consumed: "+tc.consumed+"}]\n"))
			if err != nil {
				t.Fatal(err)
			}
			w := &spec.SLO.Windows[0]
			if got := FormatNumber(w.Factor(spec.SLO.Period.D())); got != tc.want {
				t.Errorf("factor = %s, want %s", got, tc.want)
			}
			if got := BurnWindowName(w); got != tc.long+"_"+WindowName(w.Long.D()/12) {
				t.Errorf("window name %s: the short window is not long/12", got)
			}
		})
	}
}
