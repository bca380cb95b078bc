package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// EchoArgs are the arguments of the echo tool.
type EchoArgs struct {
	Text string `json:"text" jsonschema:"text to send back"`
}

// EchoResult is the structured result of echo.
type EchoResult struct {
	Text string `json:"text"`
}

// WorkArgs are the arguments of the work tool.
type WorkArgs struct {
	CPUms        float64 `json:"cpu_ms,omitempty" jsonschema:"CPU time to burn, in milliseconds (mean or median, see distribution)"`
	LatencyMs    float64 `json:"latency_ms,omitempty" jsonschema:"time to wait without CPU, in milliseconds (mean or median, see distribution)"`
	Distribution string  `json:"distribution,omitempty" jsonschema:"fixed (default), exponential (values are means) or lognormal (values are medians, sigma 0.5)"`
}

// WorkResult reports what work actually did.
type WorkResult struct {
	CPUms     float64 `json:"cpu_ms"`
	LatencyMs float64 `json:"latency_ms"`
}

// FailArgs are the arguments of the fail tool.
type FailArgs struct {
	Message string `json:"message,omitempty" jsonschema:"error message"`
	// Kind "tool" (default) answers a result with isError; "protocol" a JSON-RPC error.
	Kind string `json:"kind,omitempty" jsonschema:"tool (a result with isError, default) or protocol (a JSON-RPC error)"`
}

// maxWork bounds one work call so a typo cannot hang a load test.
const maxWork = 60 * time.Second

// codeInjected is the JSON-RPC error code of injected failures (server error range).
const codeInjected = -32050

func addFeatures(s *mcp.Server, m *capacityModel) {
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns its text argument."},
		func(_ context.Context, _ *mcp.CallToolRequest, in EchoArgs) (*mcp.CallToolResult, EchoResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, EchoResult(in), nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "work", Description: "Simulates a request: burns CPU, then waits, with a chosen distribution."},
		func(ctx context.Context, _ *mcp.CallToolRequest, in WorkArgs) (*mcp.CallToolResult, WorkResult, error) {
			cpu, err := draw(in.CPUms, in.Distribution)
			if err != nil {
				return nil, WorkResult{}, err
			}
			lat, err := draw(in.LatencyMs, in.Distribution)
			if err != nil {
				return nil, WorkResult{}, err
			}
			burnCPU(cpu)
			select {
			case <-time.After(lat):
			case <-ctx.Done():
				return nil, WorkResult{}, ctx.Err()
			}
			out := WorkResult{CPUms: ms(cpu), LatencyMs: ms(lat)}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("cpu %.3fms, latency %.3fms", out.CPUms, out.LatencyMs)}}}, out, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "fail", Description: "Always fails: a tool error result (kind=tool) or a JSON-RPC error (kind=protocol)."},
		func(_ context.Context, _ *mcp.CallToolRequest, in FailArgs) (*mcp.CallToolResult, any, error) {
			msg := in.Message
			if msg == "" {
				msg = "requested failure"
			}
			switch in.Kind {
			case "", "tool":
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}, nil, nil
			case "protocol":
				return nil, nil, &jsonrpc.Error{Code: codeInjected, Message: msg}
			default:
				return nil, nil, fmt.Errorf("kind: %q is neither tool nor protocol", in.Kind)
			}
		})

	s.AddResource(&mcp.Resource{URI: "andon://mcpserver/capacity", Name: "capacity", MIMEType: "application/json",
		Description: "The capacity model in force and its queue depth."},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			b, err := json.Marshal(m.state())
			if err != nil {
				return nil, err
			}
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "application/json", Text: string(b)}}}, nil
		})

	s.AddPrompt(&mcp.Prompt{Name: "incident_summary", Description: "Asks for a stop-the-line summary of an incident.",
		Arguments: []*mcp.PromptArgument{{Name: "service", Description: "service that stopped", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			svc := req.Params.Arguments["service"]
			return &mcp.GetPromptResult{
				Description: "Incident summary for " + svc,
				Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{
					Text: fmt.Sprintf("Summarise the andon for %s: root cause, fix applied, prevention added.", svc)}}},
			}, nil
		})
}

// draw returns a duration of mean (exponential) or median (lognormal) v milliseconds.
func draw(v float64, distribution string) (time.Duration, error) {
	if math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("durations must be ≥ 0 ms, got %v", v)
	}
	var x float64
	switch distribution {
	case "", "fixed":
		x = v
	case "exponential":
		x = rand.ExpFloat64() * v
	case "lognormal":
		x = v * math.Exp(0.5*rand.NormFloat64())
	default:
		return 0, fmt.Errorf("distribution: %q is not fixed, exponential or lognormal", distribution)
	}
	return min(time.Duration(x*float64(time.Millisecond)), maxWork), nil
}

// burnCPU spins for d of wall time, which is CPU time on an idle core.
func burnCPU(d time.Duration) {
	end := time.Now().Add(d)
	x := 1.0
	for time.Now().Before(end) {
		for range 1000 {
			x = math.Sqrt(x + 1)
		}
	}
	sink = x
}

var sink float64

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
