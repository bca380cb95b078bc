package harness

import (
	"fmt"
	"time"
)

// progress prints one status line: plain lines when not on a terminal,
// rewritten in place on one.
func (r *runner) progress(pt Point, final bool) {
	w := r.opts.Progress
	if w == nil {
		return
	}
	errRatio := 0.0
	if pt.Completed > 0 {
		errRatio = pt.Errors / pt.Completed
	}
	line := fmt.Sprintf("%6.1fs  rate %7.1f/s (intended %7.1f/s)  p50 %8s  p99 %8s  errors %5.2f%%  sessions %4d  in-flight %4d  dropped %d",
		pt.T, pt.Sent, pt.Intended, fmtSeconds(pt.P50), fmtSeconds(pt.P99), 100*errRatio, pt.Sessions, pt.InFlight, r.st.droppedTotal())
	switch {
	case r.opts.ProgressTTY && final:
		fmt.Fprintf(w, "\r\033[K%s\n", line)
	case r.opts.ProgressTTY:
		fmt.Fprintf(w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(w, line)
	}
}

// fmtSeconds prints a latency with a unit that keeps three digits.
func fmtSeconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d == 0:
		return "0"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", s*1e3)
	}
	return fmt.Sprintf("%.3fs", s)
}
