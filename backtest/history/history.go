// Package history makes deterministic erlmcp-like history: the raw series the erlmcp example's
// rules read, for any number of instances and any length, with incidents at every level, low
// traffic, counter resets, missed scrapes, instance gaps and a global gap. The backtest's
// reference test backfills it into a real Prometheus, its benchmark writes it as TSDB blocks,
// and the demo shows it. Every value is an integer, so it reads back bit for bit from any format.
package history

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Options says what history to make.
type Options struct {
	Start     time.Time
	Duration  time.Duration
	Interval  time.Duration // scrape interval
	Instances int
}

// Steps is the number of scrapes.
func (o Options) Steps() int { return int(o.Duration / o.Interval) }

// Buckets are the histogram's upper bounds (seconds), +Inf last.
var Buckets = []string{"0.05", "0.1", "0.15", "0.25", "0.3", "0.5", "1", "2.5", "+Inf"}

// Series indexes within an instance.
const (
	sUp = iota
	sRequests
	sErrors
	sConnections
	sCPU
	sMemory
	sQueue
	sConnAttempts
	sConnFailures
	sBucket0
)

// PerInstance is the number of series of one instance.
var PerInstance = sBucket0 + len(Buckets)

// Labels returns the labels of series number s (instance s / PerInstance).
func (o Options) Labels(s int) labels.Labels {
	inst := fmt.Sprintf("erlmcp-%d:9100", s/PerInstance)
	name := func(n string) labels.Labels {
		return labels.FromStrings(labels.MetricName, n, "instance", inst, "job", "erlmcp")
	}
	switch i := s % PerInstance; i {
	case sUp:
		return name("up")
	case sRequests:
		return name("erlmcp_requests_total")
	case sErrors:
		return name("erlmcp_errors_total")
	case sConnections:
		return name("erlmcp_connections_total")
	case sCPU:
		return name("erlmcp_cpu_usage_percent")
	case sMemory:
		return name("erlmcp_memory_bytes")
	case sQueue:
		return name("erlmcp_queue_size")
	case sConnAttempts:
		return name("erlmcp_connection_attempts_total")
	case sConnFailures:
		return name("erlmcp_connection_failures_total")
	default:
		return labels.FromStrings(labels.MetricName, "erlmcp_request_duration_seconds_bucket", "instance", inst, "job", "erlmcp", "le", Buckets[i-sBucket0])
	}
}

// Walk calls emit for every sample in time order (then series order): series number, timestamp
// in milliseconds, value. Missing samples are not emitted.
func Walk(o Options, emit func(s int, t int64, v float64) error) error {
	state := make([]instance, o.Instances)
	vals := make([]float64, PerInstance)
	for k := 0; k < o.Steps(); k++ {
		t := o.Start.Add(time.Duration(k) * o.Interval)
		m := int(t.Sub(o.Start) / time.Minute)
		if m >= 2000 && m < 2015 {
			continue // Prometheus itself was down: nothing at all
		}
		for i := range state {
			n := state[i].scrape(i, k, m, o.Interval, vals)
			for j := 0; j < n; j++ {
				if err := emit(i*PerInstance+j, t.UnixMilli(), vals[j]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// instance is the running state of one instance's counters.
type instance struct {
	requests, errors       float64
	attempts, connFailures float64
	buckets                []float64
}

// scrape fills vals with instance i's values at scrape k (minute m of the history) and returns how
// many of them were scraped: all, only `up` (target down), or none (missed scrape).
func (s *instance) scrape(i, k, m int, interval time.Duration, vals []float64) int {
	if s.buckets == nil {
		s.buckets = make([]float64, len(Buckets))
	}
	p := m + 97*i // each instance has its incidents at other times
	// Counters restart with the process.
	if (m+61*i)%1020 == 500 && k%(int(time.Minute/interval)) == 0 {
		s.requests, s.errors, s.attempts, s.connFailures = 0, 0, 0, 0
		clear(s.buckets)
	}
	secs := interval.Seconds()
	req := 50 * secs // requests this scrape
	if p%1440 >= 180 && p%1440 < 240 {
		req = float64(7 + k%2) // low traffic: 0.5/s, below the spec's min_rate
	}
	var errs float64
	switch {
	case p%780 >= 500 && p%780 < 504:
		errs = 3 * req / 100 // emergency
	case p%420 >= 200 && p%420 < 210:
		errs = 8 * req / 1000 // red
	case p%1000 >= 600 && p%1000 < 640 && m%2 == 1:
		errs = 8 * req / 1000 // red, flapping minute by minute
	case p%300 >= 100 && p%300 < 120 && (p/300)%2 == 0:
		errs = 2 * req / 1000 // yellow
	case p%300 >= 100 && p%300 < 120 && k%3 < 2:
		errs = 1 // yellow at 0.09% (2 errors in any 3 scrapes): between the example's 0.05% and a laxer 0.1%
	case p%1440 >= 180 && p%1440 < 240:
		errs = 1 // low traffic, 13% errors: must not alert
	case k%20 == 0:
		errs = 1
	}
	errs = float64(int(errs))
	s.requests += req
	s.errors += errs
	// Connections: 5 attempts/s; 4% of them fail for 5 minutes (emergency above 2%).
	att := 5 * secs
	s.attempts += att
	if p%1500 >= 800 && p%1500 < 805 {
		s.connFailures += float64(int(att * 4 / 100))
	}
	// Latency: share of requests per bucket (non-cumulative), by incident.
	shares := []float64{90, 6, 2, 1, 0.5, 0.3, 0.15, 0.05, 0}
	switch {
	case p%1300 >= 700 && p%1300 < 703:
		shares = []float64{50, 10, 10, 10, 5, 5, 8, 2, 0} // p99 beyond 1s
	case p%900 >= 100 && p%900 < 108:
		shares = []float64{40, 20, 20, 10, 3, 5, 2, 0, 0} // p95 beyond 280ms
	case p%540 >= 300 && p%540 < 315:
		shares = []float64{50, 20, 20, 7, 1.5, 1, 0.5, 0, 0} // p95 around 200ms
	}
	left := req // what the shares round away lands in the fastest bucket
	for b := len(shares) - 1; b > 0; b-- {
		n := float64(int(req * shares[b] / 100))
		left -= n
		s.buckets[b] += n
	}
	s.buckets[0] += left
	if p%1730 >= 900 && p%1730 < 912 {
		vals[sUp] = 0
		return 1 // target down: only up is written
	}
	if k%97 == 13 {
		return 0 // a missed scrape
	}
	vals[sUp] = 1
	vals[sRequests] = s.requests
	vals[sErrors] = s.errors
	vals[sConnections] = float64(100 + tri(p%600, 600, 60))
	if p%1700 >= 50 && p%1700 < 55 {
		vals[sConnections] = 300
	}
	vals[sCPU] = float64(30 + tri(p%500, 500, 25))
	switch {
	case p%1600 >= 400 && p%1600 < 404:
		vals[sCPU] = 90
	case p%1100 >= 600 && p%1100 < 606:
		vals[sCPU] = 75
	}
	mem := 200e6
	if r := p % 1100; r < 4 { // a leak: 1.5 MB/s for 4 minutes
		mem += 1.5e6 * float64(r*60+(k%int(time.Minute/interval))*int(secs))
	}
	vals[sMemory] = mem
	vals[sConnAttempts] = s.attempts
	vals[sConnFailures] = s.connFailures
	vals[sQueue] = 100
	switch {
	case p%1900 >= 300 && p%1900 < 302:
		vals[sQueue] = 60000
	case p%800 >= 700 && p%800 < 703:
		vals[sQueue] = 20000
	}
	var cum float64
	for b := range s.buckets {
		cum += s.buckets[b]
		vals[sBucket0+b] = cum
	}
	return PerInstance
}

// Exposition spells a series the way text formats do: name{label="value",…}.
func Exposition(ls labels.Labels) string {
	b := []byte(ls.Get(labels.MetricName) + "{")
	ls.Range(func(l labels.Label) {
		if l.Name == labels.MetricName {
			return
		}
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
		b = append(b, l.Name+"="...)
		b = strconv.AppendQuote(b, l.Value)
	})
	return string(append(b, '}'))
}

// tri is a triangle wave over period, 0 → peak → 0.
func tri(x, period, peak int) int {
	half := period / 2
	if x < half {
		return x * peak / half
	}
	return (period - x) * peak / half
}

// WriteOpenMetrics writes the history as OpenMetrics text with timestamps, the input of
// `promtool tsdb create-blocks-from openmetrics`.
func WriteOpenMetrics(w io.Writer, o Options) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	names := make([]string, o.Instances*PerInstance)
	for s := range names {
		names[s] = Exposition(o.Labels(s))
	}
	var buf []byte
	err := Walk(o, func(s int, t int64, v float64) error {
		buf = append(buf[:0], names[s]...)
		buf = append(buf, ' ')
		buf = strconv.AppendFloat(buf, v, 'f', -1, 64)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, t/1000, 10)
		buf = append(buf, '\n')
		_, err := bw.Write(buf)
		return err
	})
	if err != nil {
		return err
	}
	if _, err := bw.WriteString("# EOF\n"); err != nil {
		return err
	}
	return bw.Flush()
}
