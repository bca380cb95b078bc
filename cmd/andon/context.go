package main

import (
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/andon"
)

// contextFlags are trigger's rich context: details as strings (--detail) or
// any JSON value (--detail-json), and who and what stopped the line (metadata).
type contextFlags struct {
	details, detailsJSON, extra []string
	meta                        andon.Metadata
}

func (c *contextFlags) add(cmd *kingpin.CmdClause) {
	cmd.Flag("detail", "Detail key=value, a string (repeatable).").StringsVar(&c.details)
	cmd.Flag("detail-json", `Detail key=<JSON value>: a number, boolean, object or array, e.g. expected=1 or report='{"shapes":3}' (repeatable).`).StringsVar(&c.detailsJSON)
	cmd.Flag("build-id", "Metadata: the CI build or job id.").Envar("ANDON_BUILD_ID").StringVar(&c.meta.BuildID)
	cmd.Flag("operator", "Metadata: who or what triggered.").Envar("ANDON_OPERATOR").StringVar(&c.meta.Operator)
	cmd.Flag("commit", "Metadata: the commit under test.").Envar("ANDON_COMMIT").StringVar(&c.meta.Commit)
	cmd.Flag("pipeline-url", "Metadata: the pipeline run's URL.").Envar("ANDON_PIPELINE_URL").StringVar(&c.meta.PipelineURL)
	cmd.Flag("meta", "Metadata free key=value (repeatable).").StringsVar(&c.extra)
}

// apply sets t's details and metadata from the flags; the ledger validates them.
func (c *contextFlags) apply(t *andon.Trigger) error {
	var err error
	if t.Details, err = andon.ParseDetails(c.details); err != nil {
		return err
	}
	if t.Details, err = andon.ParseDetailJSON(c.detailsJSON, t.Details); err != nil {
		return err
	}
	m := c.meta
	for _, p := range c.extra {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: --meta %q is not key=value", andon.ErrInvalid, p)
		}
		if m.Extra == nil {
			m.Extra = map[string]string{}
		}
		m.Extra[k] = v
	}
	t.Metadata = &m
	return nil
}
