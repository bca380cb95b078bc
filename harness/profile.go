package harness

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Load models.
const (
	ModelOpen   = "open"   // requests at scheduled times, whatever the server does
	ModelClosed = "closed" // sessions, each sending at its own pace once answered
)

// Rate shapes of the open model.
const (
	ShapeConstant = "constant"
	ShapeRamp     = "ramp"
	ShapeSteps    = "steps"
	ShapeSine     = "sine"
)

// Profile is a load scenario, read from YAML with unknown fields rejected.
type Profile struct {
	Name        string        `yaml:"name" json:"name"`
	Description string        `yaml:"description" json:"description,omitempty"`
	Model       string        `yaml:"model" json:"model"`
	Duration    time.Duration `yaml:"duration" json:"duration"`
	Rate        RateSpec      `yaml:"rate" json:"rate"`
	// Sessions: open model, the sessions the requests are spread over;
	// closed model, the number of sessions reached at the end of RampUp.
	Sessions    int           `yaml:"sessions" json:"sessions"`
	RampUp      time.Duration `yaml:"ramp_up" json:"ramp_up,omitempty"`
	SessionRPS  float64       `yaml:"session_rps" json:"session_rps,omitempty"`
	Timeout     time.Duration `yaml:"timeout" json:"timeout"`
	MaxInFlight int           `yaml:"max_in_flight" json:"max_in_flight"`
	// Tool and Arguments are the profile's parameters: tools/call entries of
	// the mix that name no tool call this one (--tool and --args override).
	// "auto" picks a cheap read-only tool from the server's tools/list and
	// fills its required arguments from its input schema.
	Tool      string         `yaml:"tool" json:"tool,omitempty"`
	Arguments map[string]any `yaml:"arguments" json:"arguments,omitempty"`
	Mix       []MixEntry     `yaml:"mix" json:"mix"`
	// Thresholds make the run a verdict: each ("p95<280ms", "errors<0.5%")
	// is checked on the whole run and on every stage; one crossed fails it.
	Thresholds []string `yaml:"thresholds" json:"thresholds,omitempty"`
}

// ToolAuto asks the harness to pick the tool itself.
const ToolAuto = "auto"

// RateSpec is the open model's intended request rate over time.
type RateSpec struct {
	Shape     string        `yaml:"shape" json:"shape,omitempty"`
	RPS       float64       `yaml:"rps" json:"rps,omitempty"`             // constant; sine: the mean
	From      float64       `yaml:"from" json:"from,omitempty"`           // ramp
	To        float64       `yaml:"to" json:"to,omitempty"`               // ramp
	Steps     []Step        `yaml:"steps" json:"steps,omitempty"`         // steps (spike)
	Amplitude float64       `yaml:"amplitude" json:"amplitude,omitempty"` // sine
	Period    time.Duration `yaml:"period" json:"period,omitempty"`       // sine
}

// Step holds RPS for a while; the last step lasts until the end of the run.
type Step struct {
	For time.Duration `yaml:"for" json:"for"`
	RPS float64       `yaml:"rps" json:"rps"`
}

// MixEntry is one request class of the weighted mix.
type MixEntry struct {
	Weight    float64        `yaml:"weight" json:"weight"`
	Method    string         `yaml:"method" json:"method"`
	Tool      string         `yaml:"tool" json:"tool,omitempty"`
	URI       string         `yaml:"uri" json:"uri,omitempty"`
	Prompt    string         `yaml:"prompt" json:"prompt,omitempty"`
	Arguments map[string]any `yaml:"arguments" json:"arguments,omitempty"`
	Tier      int            `yaml:"tier" json:"tier"`
}

//go:embed profiles/*.yaml
var builtin embed.FS

// BuiltinProfiles lists the profiles shipped with the harness.
func BuiltinProfiles() []string {
	entries, _ := builtin.ReadDir("profiles")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// LoadProfile reads a built-in profile by name or a YAML file by path.
func LoadProfile(nameOrPath string) (*Profile, error) {
	if !strings.ContainsAny(nameOrPath, `/\`) && !strings.HasSuffix(nameOrPath, ".yaml") && !strings.HasSuffix(nameOrPath, ".yml") {
		data, err := builtin.ReadFile("profiles/" + nameOrPath + ".yaml")
		if err != nil {
			return nil, fmt.Errorf("no built-in profile %q (built-in: %s); give a path to a YAML file instead", nameOrPath, strings.Join(BuiltinProfiles(), ", "))
		}
		return ParseProfile(data, nameOrPath+".yaml")
	}
	data, err := os.ReadFile(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("reading profile: %w", err)
	}
	return ParseProfile(data, filepath.Base(nameOrPath))
}

// ParseProfile decodes one YAML profile strictly (unknown fields and extra
// documents are errors), fills defaults and validates it.
func ParseProfile(data []byte, source string) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: empty profile", source)
		}
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document; put one profile per file", source)
	}
	p.defaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &p, nil
}

func (p *Profile) defaults() {
	if p.Model == "" {
		p.Model = ModelOpen
	}
	if p.Rate.Shape == "" {
		p.Rate.Shape = ShapeConstant
	}
	if p.Sessions == 0 {
		p.Sessions = 1
	}
	if p.Timeout == 0 {
		p.Timeout = 5 * time.Second
	}
	if p.MaxInFlight == 0 {
		p.MaxInFlight = 10000
	}
	for i := range p.Mix {
		if p.Mix[i].Tier == 0 {
			p.Mix[i].Tier = 2
		}
	}
}

// Validate reports every problem, each naming the field and a fix.
func (p *Profile) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Name == "" {
		bad("name: required")
	}
	if p.Duration <= 0 {
		bad("duration: must be positive, e.g. 300s")
	}
	if p.Timeout <= 0 {
		bad("timeout: must be positive, e.g. 5s")
	}
	if p.Sessions < 1 {
		bad("sessions: must be at least 1")
	}
	if p.MaxInFlight < 1 {
		bad("max_in_flight: must be at least 1")
	}
	switch p.Model {
	case ModelOpen:
		errs = append(errs, p.Rate.validate())
	case ModelClosed:
		if p.RampUp < 0 || p.RampUp > p.Duration {
			bad("ramp_up: must be between 0 and duration (%s)", p.Duration)
		}
		if p.SessionRPS < 0 {
			bad("session_rps: must not be negative (0 keeps sessions idle)")
		}
	default:
		bad("model: %q is not open or closed", p.Model)
	}
	if len(p.Mix) == 0 {
		bad("mix: needs at least one entry, e.g. {method: tools/list, weight: 1}")
	}
	for i, th := range p.Thresholds {
		if _, err := ParseCheck(th); err != nil {
			bad("thresholds[%d]: %v", i, err)
		}
	}
	for i, m := range p.Mix {
		if m.Weight <= 0 || math.IsInf(m.Weight, 0) || math.IsNaN(m.Weight) {
			bad("mix[%d].weight: must be positive", i)
		}
		if m.Tier < 1 || m.Tier > 3 {
			bad("mix[%d].tier: %d is not 1 (critical), 2 (normal) or 3 (batch)", i, m.Tier)
		}
		if m.Method == "tools/call" && m.Tool == "" {
			// Filled from the profile's tool when the run starts.
			if p.Tool == "" {
				bad("mix[%d]: tools/call needs tool: <name> on the entry or on the profile (auto picks one), or --tool", i)
			}
		} else if _, err := m.Request(); err != nil {
			bad("mix[%d]: %v", i, err)
		}
	}
	return errors.Join(errs...)
}

func (r *RateSpec) validate() error {
	neg := func(field string, v float64) error {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("rate.%s: must be a finite number >= 0", field)
		}
		return nil
	}
	switch r.Shape {
	case ShapeConstant:
		if r.RPS <= 0 {
			return errors.New("rate.rps: must be positive for a constant rate")
		}
		return neg("rps", r.RPS)
	case ShapeRamp:
		if r.From == 0 && r.To == 0 {
			return errors.New("rate: a ramp needs from and/or to, e.g. {shape: ramp, from: 0, to: 1000}")
		}
		return errors.Join(neg("from", r.From), neg("to", r.To))
	case ShapeSteps:
		if len(r.Steps) == 0 {
			return errors.New("rate.steps: a steps shape needs at least one {for, rps}")
		}
		var errs []error
		for i, s := range r.Steps {
			if s.For <= 0 {
				errs = append(errs, fmt.Errorf("rate.steps[%d].for: must be positive", i))
			}
			errs = append(errs, neg(fmt.Sprintf("steps[%d].rps", i), s.RPS))
		}
		return errors.Join(errs...)
	case ShapeSine:
		if r.Period <= 0 {
			return errors.New("rate.period: a sine needs a positive period")
		}
		if r.Amplitude > r.RPS || r.RPS <= 0 {
			return errors.New("rate: a sine needs rps > 0 and amplitude <= rps (the rate never goes negative)")
		}
		return neg("amplitude", r.Amplitude)
	}
	return fmt.Errorf("rate.shape: %q is not constant, ramp, steps or sine", r.Shape)
}

// Request turns the entry into the JSON-RPC request it stands for.
func (m MixEntry) Request() (Request, error) {
	params := map[string]any{}
	r := Request{Method: m.Method, Tier: m.Tier}
	switch m.Method {
	case "tools/call":
		if m.Tool == "" {
			return r, errors.New("tools/call needs tool: <name>")
		}
		params["name"], r.Name = m.Tool, m.Tool
		args := m.Arguments
		if args == nil {
			args = map[string]any{}
		}
		params["arguments"] = args
	case "resources/read":
		if m.URI == "" {
			return r, errors.New("resources/read needs uri: <uri>")
		}
		params["uri"], r.Name = m.URI, m.URI
	case "prompts/get":
		if m.Prompt == "" {
			return r, errors.New("prompts/get needs prompt: <name>")
		}
		params["name"], r.Name = m.Prompt, m.Prompt
		if m.Arguments != nil {
			params["arguments"] = m.Arguments
		}
	case "":
		return r, errors.New("method: required, e.g. tools/call, tools/list, ping")
	default:
		if m.Arguments != nil {
			return r, fmt.Errorf("arguments are only used with tools/call and prompts/get, not %s", m.Method)
		}
	}
	b, err := json.Marshal(params)
	if err != nil {
		return r, fmt.Errorf("arguments are not JSON-encodable: %w", err)
	}
	r.Params = b
	return r, nil
}

// Scale returns a copy with rates (and the closed model's session count)
// multiplied by rate and every duration of the schedule multiplied by dur.
// Timeouts, per-session rates, weights and tiers never scale.
func (p *Profile) Scale(rate, dur float64) *Profile {
	q := *p
	q.Rate.Steps = append([]Step(nil), p.Rate.Steps...)
	sd := func(d time.Duration) time.Duration {
		if d == 0 {
			return 0
		}
		return max(time.Duration(float64(d)*dur), 10*time.Millisecond)
	}
	q.Duration, q.RampUp, q.Rate.Period = sd(p.Duration), sd(p.RampUp), sd(p.Rate.Period)
	q.Rate.RPS, q.Rate.From, q.Rate.To, q.Rate.Amplitude = p.Rate.RPS*rate, p.Rate.From*rate, p.Rate.To*rate, p.Rate.Amplitude*rate
	for i := range q.Rate.Steps {
		q.Rate.Steps[i] = Step{For: sd(p.Rate.Steps[i].For), RPS: p.Rate.Steps[i].RPS * rate}
	}
	if p.Model == ModelClosed {
		q.Sessions = max(1, int(math.Round(float64(p.Sessions)*rate)))
	}
	if (rate != 1 || dur != 1) && q.Description != "" {
		// The profile's words describe the unscaled run.
		q.Description = fmt.Sprintf("%s — scaled: rates ×%s, durations ×%s", q.Description,
			strconv.FormatFloat(rate, 'g', -1, 64), strconv.FormatFloat(dur, 'g', -1, 64))
	}
	return &q
}

// WithTool returns a copy whose tools/call entries without a tool call name
// with args (nil args: the profile's arguments). The run does this once the
// tool is known (after --tool auto asked the server).
func (p *Profile) WithTool(name string, args map[string]any) *Profile {
	q := *p
	q.Tool = name
	if args != nil {
		q.Arguments = args
	}
	q.Mix = append([]MixEntry(nil), p.Mix...)
	for i, m := range q.Mix {
		if m.Method == "tools/call" && m.Tool == "" {
			q.Mix[i].Tool, q.Mix[i].Arguments = name, q.Arguments
		}
	}
	return &q
}

// needsTool reports whether some tools/call entry takes the profile's tool.
func (p *Profile) needsTool() bool {
	for _, m := range p.Mix {
		if m.Method == "tools/call" && m.Tool == "" {
			return true
		}
	}
	return false
}

// Stage is a part of the schedule that thresholds are checked on by itself:
// each step of a steps shape, the ramp-up and the hold of a closed model.
type Stage struct {
	Name       string        `json:"name"`
	Start, End time.Duration `json:"-"`
}

// Stages splits the schedule; a schedule of one piece has none (the whole
// run is its only scope).
func (p *Profile) Stages() []Stage {
	var st []Stage
	switch {
	case p.Model == ModelOpen && p.Rate.Shape == ShapeSteps && len(p.Rate.Steps) > 1:
		var at time.Duration
		for i, s := range p.Rate.Steps {
			end := at + s.For
			if i == len(p.Rate.Steps)-1 || end > p.Duration {
				end = p.Duration
			}
			st = append(st, Stage{Name: fmt.Sprintf("step %d (%s/s)", i+1, strconv.FormatFloat(s.RPS, 'f', -1, 64)), Start: at, End: end})
			if at = end; at >= p.Duration {
				break
			}
		}
	case p.Model == ModelClosed && p.RampUp > 0 && p.RampUp < p.Duration:
		st = []Stage{{Name: "ramp-up", End: p.RampUp}, {Name: "hold", Start: p.RampUp, End: p.Duration}}
	}
	if len(st) < 2 {
		return nil
	}
	return st
}

// Describe says what the profile schedules, from its fields (after scaling
// and overrides), not from its description text.
func (p *Profile) Describe() string {
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	var b strings.Builder
	if p.Model == ModelClosed {
		fmt.Fprintf(&b, "closed model: 0 → %d sessions over %s, %s req/s each, for %s", p.Sessions, p.RampUp, num(p.SessionRPS), p.Duration)
	} else {
		switch p.Rate.Shape {
		case ShapeRamp:
			fmt.Fprintf(&b, "open model: ramp %s → %s req/s", num(p.Rate.From), num(p.Rate.To))
		case ShapeSteps:
			parts := make([]string, len(p.Rate.Steps))
			for i, s := range p.Rate.Steps {
				parts[i] = fmt.Sprintf("%s req/s for %s", num(s.RPS), s.For)
			}
			fmt.Fprintf(&b, "open model: steps %s", strings.Join(parts, ", then "))
		case ShapeSine:
			fmt.Fprintf(&b, "open model: %s ± %s req/s sine (period %s)", num(p.Rate.RPS), num(p.Rate.Amplitude), p.Rate.Period)
		default:
			fmt.Fprintf(&b, "open model: %s req/s", num(p.Rate.RPS))
		}
		fmt.Fprintf(&b, " for %s over %d sessions, at most %d in flight", p.Duration, p.Sessions, p.MaxInFlight)
	}
	fmt.Fprintf(&b, ", timeout %s", p.Timeout)
	if p.Tool != "" {
		fmt.Fprintf(&b, ", tool %s", p.Tool)
	}
	return b.String()
}
