package harness

import (
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Check is one pass/fail threshold of a run, like k6's thresholds:
// "p95<280ms", "errors<0.5%", "dropped<=0", "rate>=1000".
type Check struct {
	Expr   string  `json:"threshold"`
	Metric string  `json:"metric"`
	Op     string  `json:"op"`
	Value  float64 `json:"value"` // seconds for latencies, 0..1 for ratios, req/s for rate
}

// checkMetrics are the metrics a Check may name: CO-corrected latency
// quantiles (dropped requests included at the wait they had), the error
// ratio of completed calls, the share of scheduled requests never sent, and
// the achieved send rate (whole run only).
var checkMetrics = []string{"p50", "p90", "p95", "p99", "p99.9", "max", "mean", "errors", "dropped", "rate"}

func isLatencyMetric(m string) bool { return m != "errors" && m != "dropped" && m != "rate" }

// ParseCheck reads "<metric><op><value>": op is <, <=, > or >=; latencies
// take a unit (280ms, 1.5s), ratios a percentage (0.5%) or a fraction (0.005).
func ParseCheck(s string) (Check, error) {
	expr := strings.TrimSpace(s)
	i := strings.IndexAny(expr, "<>")
	if i <= 0 {
		return Check{}, fmt.Errorf("threshold %q: want <metric><op><value>, e.g. p95<280ms or errors<0.5%% (metrics: %s)", s, strings.Join(checkMetrics, ", "))
	}
	c := Check{Expr: expr, Metric: strings.TrimSpace(expr[:i]), Op: expr[i : i+1]}
	rest := expr[i+1:]
	if strings.HasPrefix(rest, "=") {
		c.Op += "="
		rest = rest[1:]
	}
	rest = strings.TrimSpace(rest)
	known := false
	for _, m := range checkMetrics {
		known = known || m == c.Metric
	}
	if !known {
		return c, fmt.Errorf("threshold %q: unknown metric %q (use one of %s)", s, c.Metric, strings.Join(checkMetrics, ", "))
	}
	var err error
	switch {
	case isLatencyMetric(c.Metric):
		var d time.Duration
		if d, err = time.ParseDuration(rest); err == nil {
			c.Value = d.Seconds()
		} else {
			err = fmt.Errorf("threshold %q: %q is not a duration with a unit, e.g. 280ms", s, rest)
		}
	case c.Metric == "rate":
		if c.Value, err = strconv.ParseFloat(rest, 64); err != nil {
			err = fmt.Errorf("threshold %q: %q is not a number of requests per second", s, rest)
		}
	default:
		pct := strings.HasSuffix(rest, "%")
		if c.Value, err = strconv.ParseFloat(strings.TrimSuffix(rest, "%"), 64); err != nil {
			err = fmt.Errorf("threshold %q: %q is not a ratio, e.g. 0.5%% or 0.005", s, rest)
		} else if pct {
			c.Value /= 100
		}
	}
	if err == nil && (c.Value < 0 || math.IsNaN(c.Value) || math.IsInf(c.Value, 0)) {
		err = fmt.Errorf("threshold %q: the value must be a finite number >= 0", s)
	}
	return c, err
}

// holds reports whether the observed value satisfies the check.
func (c Check) holds(v float64) bool {
	switch c.Op {
	case "<":
		return v < c.Value
	case "<=":
		return v <= c.Value
	case ">":
		return v > c.Value
	}
	return v >= c.Value
}

// format prints a value in the check's unit.
func (c Check) format(v float64) string {
	switch {
	case isLatencyMetric(c.Metric):
		return fmtSeconds(v)
	case c.Metric == "rate":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.3f%%", 100*v)
}

// line is the report line the check draws, when its metric is plotted.
func (c Check) line() (Threshold, bool) {
	switch c.Metric {
	case "p50", "p95", "p99":
		return Threshold{Metric: "latency_" + c.Metric, Value: c.Value, Label: c.Expr}, true
	case "errors":
		return Threshold{Metric: "error_ratio", Value: c.Value, Label: c.Expr}, true
	case "rate":
		return Threshold{Metric: "rate", Value: c.Value, Label: c.Expr}, true
	}
	return Threshold{}, false
}

// Lines are the report lines of the checks whose metric is plotted.
func Lines(checks []Check) []Threshold {
	var out []Threshold
	for _, c := range checks {
		if l, ok := c.line(); ok {
			out = append(out, l)
		}
	}
	return out
}

// Verdict is the outcome of the checks: Pass only when every check held on
// every scope and the run was not interrupted (fail closed: what cannot be
// shown to hold fails).
type Verdict struct {
	Pass    bool          `json:"pass"`
	Results []CheckResult `json:"results"`
}

// CheckResult is one check on one scope: "run" or a stage's name.
type CheckResult struct {
	Check    string  `json:"threshold"`
	Scope    string  `json:"scope"`
	Observed float64 `json:"observed"`
	Shown    string  `json:"observed_text"`
	Pass     bool    `json:"pass"`
	Reason   string  `json:"reason,omitempty"` // why it failed without a value to compare
}

// scopeFigures are what checks compare, for the whole run or one stage.
type scopeFigures struct {
	name                                 string
	latency                              Quantiles
	completed, errors, dropped, intended uint64
	rate                                 float64 // NaN: not measured on this scope
}

func (f scopeFigures) value(metric string) (float64, string) {
	switch metric {
	case "errors":
		if f.completed == 0 {
			return 0, "no request completed"
		}
		return float64(f.errors) / float64(f.completed), ""
	case "dropped":
		if f.intended == 0 {
			return 0, "nothing was scheduled"
		}
		return float64(f.dropped) / float64(f.intended), ""
	case "rate":
		return f.rate, ""
	}
	if f.completed+f.dropped == 0 {
		return 0, "no latency was measured"
	}
	q := f.latency
	return map[string]float64{"p50": q.P50, "p90": q.P90, "p95": q.P95, "p99": q.P99, "p99.9": q.P999, "max": q.Max, "mean": q.Mean}[metric], ""
}

// judge checks every check on the whole run and on every stage.
func judge(checks []Check, res *Result) *Verdict {
	if len(checks) == 0 {
		return nil
	}
	scopes := []scopeFigures{{name: "run", latency: res.Overall.Latency, completed: res.Completed, errors: res.Errors,
		dropped: res.Dropped, intended: res.Intended, rate: res.AchievedRPS}}
	for _, st := range res.Stages {
		scopes = append(scopes, scopeFigures{name: st.Name, latency: st.Latency, completed: st.Completed, errors: st.Errors,
			dropped: st.Dropped, intended: st.Intended, rate: math.NaN()})
	}
	v := &Verdict{Pass: true}
	if res.Interrupted {
		v.Pass = false
		v.Results = append(v.Results, CheckResult{Check: "run completes", Scope: "run", Shown: "interrupted", Reason: "the run was interrupted: its schedule did not finish"})
	}
	for _, c := range checks {
		for _, sc := range scopes {
			val, missing := sc.value(c.Metric)
			if math.IsNaN(val) {
				continue // rate is a whole-run figure
			}
			r := CheckResult{Check: c.Expr, Scope: sc.name, Observed: val, Shown: c.format(val)}
			if missing != "" {
				r.Shown, r.Reason = "-", missing
			} else {
				r.Pass = c.holds(val)
			}
			v.Pass = v.Pass && r.Pass
			v.Results = append(v.Results, r)
		}
	}
	return v
}

// WriteVerdict prints the threshold table and the verdict line.
func WriteVerdict(w io.Writer, v *Verdict) error {
	if v == nil {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "threshold\tscope\tobserved\tresult")
	for _, r := range v.Results {
		res := "pass"
		if !r.Pass {
			res = "FAIL"
			if r.Reason != "" {
				res += ": " + r.Reason
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Check, r.Scope, r.Shown, res)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if v.Pass {
		_, err := fmt.Fprintln(w, "verdict: pass (every threshold held)")
		return err
	}
	failed := 0
	for _, r := range v.Results {
		if !r.Pass {
			failed++
		}
	}
	_, err := fmt.Fprintf(w, "verdict: FAIL (%d of %d checks failed)\n", failed, len(v.Results))
	return err
}

// JUnit test report: one test case per check and scope, for CI systems
// that show test results.
type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     float64     `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the verdict as a JUnit XML test suite.
func WriteJUnit(path string, res *Result) error {
	v := res.Verdict
	s := junitSuite{Name: "andon load " + res.Profile.Name, Time: res.Seconds}
	for _, r := range v.Results {
		c := junitCase{Name: r.Check + " [" + r.Scope + "]", Classname: "andon.load." + res.Profile.Name}
		if !r.Pass {
			msg := "observed " + r.Shown
			if r.Reason != "" {
				msg = r.Reason
			}
			c.Failure = &junitFailure{Message: msg, Text: fmt.Sprintf("%s on %s: %s", r.Check, r.Scope, msg)}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	out, err := xml.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(out, '\n')...), 0o644)
}
