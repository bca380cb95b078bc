package andon

import (
	"fmt"
	"slices"
	"strings"
)

// The pipeline stages the TPS andon design names, in pipeline order.
const (
	StageCompilation = "compilation"
	StageTesting     = "testing"
	StageValidation  = "validation"
	StageExecution   = "execution"
	StageIntegration = "integration"
	StageDeployment  = "deployment"
)

// DefaultStages is the stage list when none is configured.
var DefaultStages = []string{StageCompilation, StageTesting, StageValidation, StageExecution, StageIntegration, StageDeployment}

// StagePolicy is the ordered list of pipeline stages an andon may name, and
// what an open andon blocks. The zero value is DefaultStages, and an open
// andon blocks its own stage and every later one: the fix can still be built
// and tested in the stages before.
type StagePolicy struct {
	Stages []string `yaml:"stages"`
	// BlockAll: an open andon blocks every stage, earlier ones too (stop the whole line).
	BlockAll bool `yaml:"block_all_stages"`
}

func (p StagePolicy) list() []string {
	if len(p.Stages) == 0 {
		return DefaultStages
	}
	return p.Stages
}

// Names lists the stages comma-separated, for messages and help.
func (p StagePolicy) Names() string { return strings.Join(p.list(), ", ") }

// Validate refuses empty, repeated or unprintable stage names.
func (p StagePolicy) Validate() error {
	for i, s := range p.Stages {
		n, err := NormalizeID("stage", s)
		if err != nil {
			return err
		}
		if n == "" || n != s || strings.Contains(s, ",") {
			return fmt.Errorf("%w: stage %d %q: give a name without surrounding spaces or commas", ErrInvalid, i+1, s)
		}
		if slices.Index(p.Stages, s) != i {
			return fmt.Errorf("%w: stage %q is listed twice: the list is the pipeline's order", ErrInvalid, s)
		}
	}
	return nil
}

// Index is the stage's place in the pipeline; an empty or unknown stage is
// ErrInvalid naming the list.
func (p StagePolicy) Index(stage string) (int, error) {
	if i := slices.Index(p.list(), stage); i >= 0 {
		return i, nil
	}
	what := fmt.Sprintf("stage %q is unknown", stage)
	if stage == "" {
		what = "stage is empty"
	}
	return -1, fmt.Errorf("%w: %s: use one of %s (in pipeline order)", ErrInvalid, what, p.Names())
}

// Blocks says whether open andon a stops stage: when it was found at that
// stage or an earlier one, or always with BlockAll. An andon whose stage is
// not in the list (recorded under another list) blocks every stage: the
// gate fails closed.
func (p StagePolicy) Blocks(a Andon, stage int) bool {
	if p.BlockAll {
		return true
	}
	at := slices.Index(p.list(), a.Stage)
	return at < 0 || at <= stage
}

// checkStage refuses a trigger whose stage is not in the ledger's list.
func (l *Ledger) checkStage(t Trigger) error {
	_, err := l.Stages.Index(strings.TrimSpace(t.Stage))
	return err
}

// blocking keeps the open andons that stop stage; no stage asked: all of them.
func (l *Ledger) blocking(open []Andon, stage string) ([]Andon, error) {
	out := []Andon{}
	if stage == "" {
		return append(out, open...), nil
	}
	at, err := l.Stages.Index(strings.TrimSpace(stage))
	if err != nil {
		return nil, err
	}
	for _, a := range open {
		if l.Stages.Blocks(a, at) {
			out = append(out, a)
		}
	}
	return out, nil
}
