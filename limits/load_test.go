package limits

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWarningsAreNotErrors(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		warn string
	}{
		{"a spec without a selector warns", strings.Replace(base, "selector: '{job=\"svc\"}'\n", "", 1), "no `selector`"},
		{"a signal without a description warns", strings.Replace(base, "    description: failed requests\n", "", 1), "signal errs has no description"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, ds, err := Parse("w.yaml", []byte(tc.yaml))
			if err != nil || spec == nil {
				t.Fatalf("a warning made the spec unusable: %v", err)
			}
			if len(ds.Errors()) != 0 || len(ds.Warnings()) != 1 || !strings.Contains(ds.Warnings()[0].Msg, tc.warn) {
				t.Fatalf("want one warning %q, got:\n%v", tc.warn, ds)
			}
			if !strings.Contains(ds.Warnings()[0].String(), ": warning: ") {
				t.Errorf("warning printed as %q", ds.Warnings()[0])
			}
		})
	}
}

func TestErrorIsTheErrorsOnly(t *testing.T) {
	_, ds, err := Parse("e.yaml", []byte(strings.Replace(base, "    description: failed requests\n", "", 1)+"scrape_interval: 0s\n"))
	var diags Diagnostics
	if !errors.As(err, &diags) {
		t.Fatalf("error is %T, want Diagnostics", err)
	}
	if len(diags) != len(diags.Errors()) || len(ds.Warnings()) == 0 {
		t.Errorf("the error must hold errors only and the diagnostics the warnings too: err %v, all %v", diags, ds)
	}
}

func TestExamplesLoad(t *testing.T) {
	for _, ex := range []string{"erlmcp", "mcpserver"} {
		t.Run(ex, func(t *testing.T) {
			spec, ds, err := Load(filepath.Join("..", "examples", ex, "limits.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != 0 {
				t.Errorf("the example has diagnostics:\n%v", ds)
			}
			if spec.Service != ex || len(spec.Signals) == 0 {
				t.Errorf("loaded service %q with %d signals", spec.Service, len(spec.Signals))
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "reading spec") {
		t.Fatalf("got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	spec, _, err := Parse("d.yaml", []byte(base+"slo: {objective: 99.9%, signal: errs}\n"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"scrape interval defaults to 15s", spec.ScrapeInterval.D(), DefaultScrapeInterval},
		{"evaluation interval follows the scrape interval", spec.EvaluationInterval.D(), DefaultScrapeInterval},
		{"a ratio's min_rate defaults to 1/s", spec.Signals[0].MinRate.Value, 1.0},
		{"direction defaults to above", spec.Signals[0].Direction, Above},
		{"red sheds half by default", ShedOf(spec.Levels.Red.Actions).Fraction, DefaultShedFraction},
		{"red's action label in order", ActionLabel(spec.Levels.Red.Actions), "page,shed,reject_new,andon"},
		{"the SLO period defaults to 30d", spec.SLO.Period.D(), DefaultSLOPeriod},
		{"four burn windows by default", len(spec.SLO.Windows), 4},
		{"no-data defaults to red", spec.NoData.Level, Red},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestDefaultWindowsGrowWithASlowScrape(t *testing.T) {
	spec, _, err := Parse("s.yaml", []byte(base+"scrape_interval: 1m\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range Levels {
		w := spec.Levels.Get(l).Windows
		if w.Short.D() < 2*spec.ScrapeInterval.D() || w.Long.D() <= w.Short.D() {
			t.Errorf("%s: windows %s & %s do not hold two 1m scrapes", l, w.Short, w.Long)
		}
	}
}

// Hostile input costs little: a huge mapping is refused in one linear pass,
// and Load reads no more than MaxSpecBytes (+1) of an endless file.
func TestHostileSpecInputIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("service: x\n")
	for i := range 80000 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	if _, _, err := Parse("wide.yaml", []byte(b.String())); err == nil || !strings.Contains(err.Error(), "a mapping with 80001 keys") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		if _, _, err := Load("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
			t.Fatalf("Load(/dev/zero): %v", err)
		}
	}
}
