package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// BenchmarkCall is one request round trip through the harness's own client
// against the go-sdk server on loopback, per protocol era.
func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name string
		kind serverKind
	}{{"2026-07-28", stateless2026}, {"2025-11-25-sse", stateful2025}, {"2025-11-25-json", statefulJSON}} {
		b.Run(tc.name, func(b *testing.B) {
			srv := startServer(b, tc.kind, nil)
			ctx := context.Background()
			c, err := (&Dialer{Target: Target{URL: srv.URL}, HTTP: NewHTTPClient(16)}).Dial(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close(ctx)
			p, _ := Prepare(Request{Method: "tools/call", Name: "echo", Params: json.RawMessage(`{"name":"echo","arguments":{"text":"hi"}}`)}, c.Era())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := c.Call(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSSEReader parses a typical go-sdk answer: priming event + response.
func BenchmarkSSEReader(b *testing.B) {
	ev := "event: prime\nid: abc_0\ndata: \n\nevent: message\nid: abc_1\ndata: " + `{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi"}]}}` + "\n\n"
	in := strings.Repeat(ev, 100)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewSSEReader(bytes.NewReader([]byte(in)), 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// BenchmarkRecord is the per-request bookkeeping: HDR histograms and the
// Prometheus histogram.
func BenchmarkRecord(b *testing.B) {
	st := newStats(nil)
	live := newLiveMetrics(st)
	k := opKey{Method: "tools/call", Name: "echo", Tier: 1}
	b.ReportAllocs()
	for b.Loop() {
		st.record(k, 0, 1500000, 1200000, "", false)
		live.observe(k, 1500000, "")
	}
}
