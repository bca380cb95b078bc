package server

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestConformanceFixtures calls the fixtures that need the client's side of the protocol
// (sampling, elicitation) or server state (templates, completion) through the go-sdk client
// in a 2025-11-25 session, as the conformance suite's client does; `make test-conformance`
// runs the suite itself.
func TestConformanceFixtures(t *testing.T) {
	ts := start(t, Config{Capacity: unlimited(), ConformanceFixtures: true})
	var elicited json.RawMessage
	client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "echo: " + req.Params.Messages[0].Content.(*mcp.TextContent).Text}}, nil
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			elicited, _ = json.Marshal(req.Params.RequestedSchema)
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + "/mcp", DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	textOf := func(name string, args map[string]any) string {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError || len(res.Content) == 0 {
			t.Fatalf("%s: %v %+v", name, err, res)
		}
		return res.Content[0].(*mcp.TextContent).Text
	}

	if got := textOf("test_sampling", map[string]any{"prompt": "hi"}); got != "LLM response: echo: hi" {
		t.Errorf("test_sampling answered %q, want the client's completion of the prompt", got)
	}
	// The client applies no defaults, the server's SDK does: the answer holds every default.
	got := textOf("test_elicitation_sep1034_defaults", nil)
	for _, want := range []string{`"name":"John Doe"`, `"age":30`, `"score":95.5`, `"status":"active"`, `"verified":true`} {
		if !strings.Contains(got, want) {
			t.Errorf("test_elicitation_sep1034_defaults answered %q, missing default %s", got, want)
		}
	}
	if !strings.Contains(string(elicited), `"default":"John Doe"`) {
		t.Errorf("the elicitation request's schema lacks the name default: %s", elicited)
	}
	res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://template/123/data"})
	if err != nil || len(res.Contents) != 1 || res.Contents[0].Text != `{"data":"Data for ID: 123","id":"123","templateTest":true}` {
		t.Errorf("template read: %v %+v", err, res)
	}
	comp, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"},
		Argument: mcp.CompleteParamsArgument{Name: "arg1", Value: "par"}})
	if err != nil || !slices.Equal(comp.Completion.Values, []string{"paris", "park", "party"}) {
		t.Errorf("completion of %q: %v %+v, want paris, park, party", "par", err, comp)
	}
}
