package webhook

import (
	"fmt"
	"slices"
)

// checkStages validates the stage list and that alert-driven andons name one of its stages.
func checkStages(c *Config) error {
	if err := c.Stages.Validate(); err != nil {
		return fmt.Errorf("stages: %w", err)
	}
	if _, err := c.Stages.Index(c.AndonStage); err != nil {
		return fmt.Errorf("andon_stage: %w", err)
	}
	return nil
}

// keepStages keeps the running stage list on reload: the ledger reads it on
// every trigger and gate, so it changes with a restart.
func (s *Server) keepStages(old, next *Config) {
	if !slices.Equal(old.Stages.Stages, next.Stages.Stages) || old.Stages.BlockAll != next.Stages.BlockAll || old.AndonStage != next.AndonStage {
		s.log.Warn("stages, block_all_stages and andon_stage changes take effect after a restart")
		next.Stages, next.AndonStage = old.Stages, old.AndonStage
	}
}
