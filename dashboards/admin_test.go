package dashboards

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAGrafanaAdminAccepts checks what a Grafana admin provisioning the erlmcp dashboard would
// check, one sentence each.
func TestAGrafanaAdminAccepts(t *testing.T) {
	res, out := generate(t, loadExample(t, "erlmcp"))
	var d struct {
		Editable   bool `json:"editable"`
		Templating struct {
			List []struct {
				Name, Query string
				AllValue    string `json:"allValue"`
				IncludeAll  bool   `json:"includeAll"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title, Description string
			Targets            []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		if v.IncludeAll {
			vars[v.Name] = v.AllValue
		}
	}
	panel := func(title string) (desc string, exprs []string) {
		for _, p := range d.Panels {
			if p.Title == title {
				for _, tg := range p.Targets {
					exprs = append(exprs, tg.Expr)
				}
				return p.Description, exprs
			}
		}
		t.Fatalf("no panel %q", title)
		return "", nil
	}
	retention, err := Retention(res)
	if err != nil {
		t.Fatal(err)
	}
	needs := map[string]time.Duration{}
	for _, r := range retention {
		if _, dup := needs[r.Title]; !dup { // the first panel of a title, as panel() finds it
			needs[r.Title] = r.Needs
		}
	}
	cases := []struct {
		name string
		ok   func() bool
	}{
		{"the dashboard is not editable, as the provisioning provider allows no UI updates", func() bool { return !d.Editable }},
		{"the instance variable's All is .+, not every listed value pasted into the query", func() bool { return vars["instance"] == ".+" }},
		{"a job variable exists, All being .+", func() bool { return vars["job"] == ".+" }},
		{"raw series of the service's targets are narrowed by job", func() bool {
			_, exprs := panel("Admission")
			return len(exprs) == 1 && strings.Contains(exprs[0], `job=~"$job"`)
		}},
		{"a 30d SLO panel needs at least 30d of retention, and says so", func() bool {
			desc, _ := panel("Error budget left (30d)")
			return needs["Error budget left (30d)"] >= 30*24*time.Hour && strings.Contains(desc, "Needs Prometheus retention ≥ 30d3h.")
		}},
		{"a 1h/5m burn-rate panel needs the 1h window plus the range shown", func() bool {
			return needs["Burn rate 1h / 5m (limit 14.4×)"] == time.Hour+defaultRange
		}},
		{"the current-level stats read the latest samples only", func() bool {
			desc, _ := panel("error ratio")
			return needs["error ratio"] == 0 && strings.Contains(desc, "needs no Prometheus history")
		}},
		{"every panel states its retention", func() bool {
			for _, p := range d.Panels {
				if p.Targets != nil && !strings.Contains(p.Description, "retention") && !strings.Contains(p.Description, "history") {
					return false
				}
			}
			return len(retention) > 0
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok() {
				t.Fail()
			}
		})
	}
}
