package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/andon-sre/andon/harness"
	"github.com/andon-sre/andon/harness/fromrun"
	"github.com/andon-sre/andon/internal/pinned"
	"github.com/andon-sre/andon/promtest"
)

// registerFromRun wires `andon promtest from-run RUN --spec SPEC`: promtool tests of a spec's
// alerts built from a recorded load run.
func registerFromRun(app *kingpin.Application) {
	pt := app.Command("promtest", "promtool tests beyond the generated ones.")
	cmd := pt.Command("from-run", "Write promtool tests whose input is a recorded `andon load` run and whose expected alerts are computed from its values; optionally run them.")
	run := cmd.Arg("run", "Run directory of `andon load` (holding recording.json) or a recording file.").Required().String()
	specFile := cmd.Flag("spec", "Operating-limits spec (YAML) whose alerts are tested.").Required().String()
	out := cmd.Flag("output", "Directory for rules/<svc>.rules.yaml and tests/<svc>.from-run.test.yaml.").Short('o').Default("from-run").String()
	lbls := cmd.Flag("label", "Label name=value given to recorded series that lack it, as the scrape would (default: the spec selector's equality matchers; group_by labels = andon-run). Repeatable.").Strings()
	execute := cmd.Flag("run", "Run promtool on the written test.").Bool()
	cmd.Action(func(*kingpin.ParseContext) error {
		spec, err := loadSpec(*specFile, false)
		if err != nil {
			return err
		}
		path := *run
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			path = filepath.Join(path, harness.RecordingFile)
		}
		rec, err := harness.LoadRecording(path)
		if err != nil {
			return failure(err)
		}
		opts := promtest.FromRunOptions{Labels: map[string]string{}}
		for _, l := range *lbls {
			k, v, ok := strings.Cut(l, "=")
			if !ok {
				return &exitError{code: 2, err: fmt.Errorf("--label %q: want name=value", l)}
			}
			opts.Labels[k] = v
		}
		files, notes, err := fromrun.Write(spec, rec, *out, opts)
		for _, n := range notes {
			fmt.Fprintln(os.Stderr, "note:", n)
		}
		if err != nil {
			return failure(err)
		}
		for _, f := range files {
			fmt.Println("wrote", f)
		}
		if !*execute {
			return nil
		}
		bin, err := pinned.Path("promtool")
		if err != nil {
			return failure(err)
		}
		res, err := promtest.Run(context.Background(), bin, files[1:], "")
		if err != nil {
			return failure(err)
		}
		fmt.Printf("%d promtool test group(s) passed on the recorded run\n", res.Tests)
		return nil
	})
}
