package andon

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// Output formats of the CLI verbs.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Print writes v as indented JSON, or as text through the given function.
func Print(w io.Writer, format string, v any, text func(io.Writer)) error {
	if format == FormatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	text(tw)
	return tw.Flush()
}

// Escape makes s safe to print on a terminal: control characters, invisible
// format characters (zero-width spaces, bidi overrides) and invalid UTF-8
// are written as \u{…} and \x.. escapes, so stored text cannot move the
// cursor, recolour the screen or forge a table row.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if !printable(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case printable(r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "\\u{%04X}", r)
		}
		i += size
	}
	return b.String()
}

func printable(r rune) bool {
	return r != utf8.RuneError && (r == ' ' || unicode.IsGraphic(r) && !unicode.Is(unicode.Cf, r) && !unicode.IsSpace(r))
}

// WriteList prints andons as a table with their time to resolve.
func WriteList(w io.Writer, list []Andon, now time.Time) {
	fmt.Fprintln(w, "ID\tSTATUS\tTYPE\tSKU\tSTAGE\tOPENED\tTIME TO RESOLVE")
	for _, a := range list {
		ttr := a.TimeToResolve(now).Round(time.Second).String()
		if a.Status == StatusOpen {
			ttr = "open for " + ttr
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", Escape(a.ID), Escape(string(a.Status)), Escape(string(a.Type)), Escape(a.SKU), Escape(a.Stage), a.OpenedAt.Format(time.RFC3339), ttr)
	}
}

// WriteHistory prints a sku's andons and its mean time to resolve.
func WriteHistory(w io.Writer, list []Andon, now time.Time) {
	WriteList(w, list, now)
	var sum time.Duration
	n := 0
	for _, a := range list {
		if a.Status == StatusResolved {
			sum += a.TimeToResolve(now)
			n++
		}
	}
	fmt.Fprintf(w, "\n%d andon(s), %d resolved", len(list), n)
	if n > 0 {
		fmt.Fprintf(w, ", mean time to resolve %s", (sum / time.Duration(n)).Round(time.Second))
	}
	fmt.Fprintln(w)
}

// WriteShow prints one andon and its receipts.
func WriteShow(w io.Writer, a Andon, rs []Receipt, now time.Time) {
	fmt.Fprintf(w, "id:\t%s\nstatus:\t%s\ntype:\t%s\nsku:\t%s\nstage:\t%s\nopened:\t%s\n",
		Escape(a.ID), Escape(string(a.Status)), Escape(string(a.Type)), Escape(a.SKU), Escape(a.Stage), a.OpenedAt.Format(time.RFC3339))
	if m := a.Metadata; m != nil {
		for _, f := range [][2]string{{"build_id", m.BuildID}, {"operator", m.Operator}, {"commit", m.Commit}, {"pipeline_url", m.PipelineURL}} {
			if f[1] != "" {
				fmt.Fprintf(w, "%s:\t%s\n", f[0], Escape(f[1]))
			}
		}
		for _, k := range sortedKeys(m.Extra) {
			fmt.Fprintf(w, "metadata %s:\t%s\n", Escape(k), Escape(m.Extra[k]))
		}
	}
	for _, k := range sortedKeys(a.Details) {
		fmt.Fprintf(w, "detail %s:\t%s\n", Escape(k), Escape(DetailText(a.Details[k])))
	}
	if r := a.Resolution; r != nil {
		fmt.Fprintf(w, "resolved:\t%s by %s (time to resolve %s)\nroot cause:\t%s\nfix applied:\t%s\nprevention added:\t%s\n",
			a.ResolvedAt.Format(time.RFC3339), Escape(r.Resolver), a.TimeToResolve(now).Round(time.Second), Escape(r.RootCause), Escape(r.FixApplied), Escape(r.PreventionAdded))
	}
	fmt.Fprintln(w, "\nRECEIPT\tTYPE\tTIME\tKEY\tHASH")
	for _, r := range rs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", Escape(r.ID), Escape(string(r.Type)), Escape(r.Timestamp), cmp.Or(Escape(r.KeyID), "unsigned"), Escape(short(r.Hash)))
	}
}

// WriteGate prints the gate's answer and what blocks.
func WriteGate(w io.Writer, g GateResult, now time.Time) {
	if g.Proceed {
		fmt.Fprintf(w, "PROCEED: %s may proceed to stage %q: no open andon blocks it\n", Escape(g.SKU), Escape(g.Stage))
		return
	}
	fmt.Fprintf(w, "BLOCKED: %s may not proceed to stage %q: %d open andon(s); resolve them with 'andon resolve ID --root-cause … --fix … --prevention …'\n\n", Escape(g.SKU), Escape(g.Stage), len(g.Blocking))
	WriteList(w, g.Blocking, now)
}

// WriteActions prints actuator decisions.
func WriteActions(w io.Writer, recs []ActionRecord) {
	fmt.Fprintln(w, "TIME\tKIND\tTARGET\tRESULT\tALERT\tREASON")
	for _, r := range recs {
		reason := r.Reason
		if r.Detail != "" {
			reason += " [" + r.Detail + "]"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.Format(time.RFC3339), Escape(r.Kind), Escape(r.Target), Escape(r.Result), Escape(r.Alert), Escape(reason))
	}
}

// WriteProblems prints the findings of a verification.
func WriteProblems(w io.Writer, probs []Problem) {
	if len(probs) == 0 {
		fmt.Fprintln(w, "OK: the receipt chain verifies")
		return
	}
	fmt.Fprintf(w, "FAILED: %d problem(s) in the receipt chain:\n", len(probs))
	for _, p := range probs {
		fmt.Fprintln(w, "  "+Escape(p.String()))
	}
}
