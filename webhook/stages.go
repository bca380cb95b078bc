package webhook

import (
	"fmt"
	"slices"

	"github.com/andon-sre/andon/andon"
)

// checkStages validates the stage list, that alert-driven andons name one of its stages, and the ontology base.
func checkStages(c *Config) error {
	if err := c.Stages.Validate(); err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	if _, err := c.Stages.Index(c.AndonStage); err != nil {
		return fmt.Errorf("andon_stage: %w", err)
	}
	if c.OntologyBase == "" {
		c.OntologyBase = andon.DefaultOntologyBase
	}
	return andon.ValidateOntologyBase(c.OntologyBase)
}

// keepStages keeps the running stage list on reload: the ledger reads it on
// every trigger and gate, so it changes with a restart.
func (s *Server) keepStages(old, next *Config) {
	if !slices.Equal(old.Stages.Stages, next.Stages.Stages) || old.Stages.BlockAll != next.Stages.BlockAll || old.AndonStage != next.AndonStage || old.OntologyBase != next.OntologyBase {
		s.log.Warn("stages, block_all_stages, andon_stage and ontology_base changes take effect after a restart")
		next.Stages, next.AndonStage, next.OntologyBase = old.Stages, old.AndonStage, old.OntologyBase
	}
}
