package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/bundle"
	"github.com/andon-sre/andon/explain"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/rulegen"
)

// registerSpec wires the spec verbs: generate, check, explain.
func registerSpec(app *kingpin.Application) {
	gen := app.Command("generate", "Compile a spec into rules, Alertmanager snippet, dashboards and promtool tests.")
	genFile := gen.Flag("file", "Operating-limits spec (YAML).").Short('f').Required().String()
	genOut := gen.Flag("output", "Bundle directory to write.").Short('o').Required().String()
	genFormat := gen.Flag("format", "Rules output: rules (Prometheus rule file) or prometheusrule (prometheus-operator CRD).").Default(bundle.FormatRules).Enum(bundle.FormatRules, bundle.FormatPrometheusRule)
	genAM := receiverFlags(gen)
	gen.Action(func(*kingpin.ParseContext) error {
		spec, err := loadSpec(*genFile, false)
		if err != nil {
			return err
		}
		am, warns := genAM.WithSpec(spec)
		printWarnings(*genFile, warns)
		files, err := bundle.Write(spec, *genOut, bundle.Options{Format: *genFormat, Alertmanager: am})
		if err != nil {
			return failure(err)
		}
		for _, f := range files {
			fmt.Printf("wrote %s/%s\n", *genOut, f.Path)
		}
		return nil
	})

	check := app.Command("check", "Validate a spec: exit 0 ok, 1 errors (or warnings with --strict), 2 usage.")
	checkFile := check.Arg("spec", "Operating-limits spec (YAML).").Required().String()
	strict := check.Flag("strict", "Treat warnings as errors, including placeholders left in the Alertmanager receiver.").Bool()
	checkAM := receiverFlags(check)
	check.Action(func(*kingpin.ParseContext) error {
		spec, err := loadSpec(*checkFile, *strict)
		if err != nil {
			return err
		}
		_, warns := checkAM.WithSpec(spec)
		printWarnings(*checkFile, warns)
		if *strict && len(warns) > 0 {
			return &exitError{code: 1, err: fmt.Errorf("%s: %d warning(s) with --strict", *checkFile, len(warns))}
		}
		res, err := rulegen.Generate(spec)
		if err != nil {
			return failure(err)
		}
		rules, err := res.RulesYAML()
		if err == nil {
			err = rulegen.CheckRules(rules)
		}
		if err != nil {
			return failure(err)
		}
		fmt.Printf("%s: ok: service %s, %d signals, %d alerts\n", *checkFile, spec.Service, len(spec.Signals), len(res.Alerts))
		return nil
	})

	exp := app.Command("explain", "Print the spec as a table: signal × level × threshold × for × actions, and derived SLO numbers.")
	expFile := exp.Arg("spec", "Operating-limits spec (YAML).").Required().String()
	exp.Action(func(*kingpin.ParseContext) error {
		spec, err := loadSpec(*expFile, false)
		if err != nil {
			return err
		}
		res, err := rulegen.Generate(spec)
		if err != nil {
			return failure(err)
		}
		return explain.Write(os.Stdout, res)
	})
}

// loadSpec loads and validates a spec, printing every diagnostic to stderr.
func loadSpec(path string, strict bool) (*limits.Spec, error) {
	spec, ds, err := limits.Load(path)
	for _, d := range ds {
		fmt.Fprintln(os.Stderr, d.String())
	}
	var diags limits.Diagnostics
	switch {
	case errors.As(err, &diags):
		return nil, &exitError{code: 1, err: fmt.Errorf("%s: %d error(s)", path, len(diags))}
	case err != nil:
		return nil, failure(err)
	case strict && len(ds.Warnings()) > 0:
		return nil, &exitError{code: 1, err: fmt.Errorf("%s: %d warning(s) with --strict", path, len(ds.Warnings()))}
	}
	return spec, nil
}

// receiverFlags adds the flags that say where `andon webhook` runs; unset, the spec says, else a
// placeholder is written and warned about.
func receiverFlags(cmd *kingpin.CmdClause) *rulegen.AlertmanagerOptions {
	am := rulegen.DefaultAlertmanagerOptions()
	cmd.Flag("webhook.url", "URL of `andon webhook` written into the Alertmanager receiver (default: the spec's alertmanager.webhook_url).").PlaceHolder(rulegen.PlaceholderWebhookURL).StringVar(&am.WebhookURL)
	cmd.Flag("webhook.credentials-file", "Bearer token file written into the receiver's http_config (default: the spec's alertmanager.credentials_file).").PlaceHolder(rulegen.PlaceholderCredentialsFile).StringVar(&am.CredentialsFile)
	return &am
}

// printWarnings prints warnings about the generated output to stderr, as the spec's own are.
func printWarnings(file string, warns []string) {
	for _, w := range warns {
		fmt.Fprintf(os.Stderr, "%s: warning: %s\n", file, w)
	}
}

// failure marks err as a command failure (exit 1), not a usage error.
func failure(err error) error { return &exitError{code: 1, err: err} }
