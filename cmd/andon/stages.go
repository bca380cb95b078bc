package main

import (
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
)

// stageFlags choose the pipeline's stages and the ontology base for a --db
// ledger; with --url the receiver's configuration applies.
type stageFlags struct {
	list, ontologyBase string
	blockAll           bool
}

func (s *stageFlags) add(cmd *kingpin.CmdClause) {
	cmd.Flag("stages", "Pipeline stages in order, comma-separated (with --db; --url uses the receiver's).").Envar("ANDON_STAGES").
		Default(strings.Join(andon.DefaultStages, ",")).StringVar(&s.list)
	cmd.Flag("ontology-base", "IRI namespace of the receipts' ontology refs (with --db).").Envar("ANDON_ONTOLOGY_BASE").Default(andon.DefaultOntologyBase).StringVar(&s.ontologyBase)
	cmd.Flag("block-all-stages", "An open andon blocks every stage, earlier ones too (default: its own stage and every later one).").Envar("ANDON_BLOCK_ALL_STAGES").BoolVar(&s.blockAll)
}

func (s *stageFlags) policy() (andon.StagePolicy, error) {
	p := andon.StagePolicy{BlockAll: s.blockAll}
	for _, st := range strings.Split(s.list, ",") {
		p.Stages = append(p.Stages, strings.TrimSpace(st))
	}
	if err := andon.ValidateOntologyBase(s.ontologyBase); err != nil {
		return p, err
	}
	return p, p.Validate()
}
