package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// errNoTool is returned when --tool auto finds nothing cheap to call.
var errNoTool = errors.New("--tool auto found no cheap read-only tool")

// toolInfo is what tools/list says of a tool that --tool auto looks at.
type toolInfo struct {
	Name        string `json:"name"`
	InputSchema struct {
		Properties map[string]struct {
			Type any   `json:"type"`
			Enum []any `json:"enum"`
		} `json:"properties"`
		Required []string `json:"required"`
	} `json:"inputSchema"`
	Annotations *struct {
		ReadOnlyHint    *bool `json:"readOnlyHint"`
		DestructiveHint *bool `json:"destructiveHint"`
		OpenWorldHint   *bool `json:"openWorldHint"`
	} `json:"annotations"`
}

// pickTool asks the server's tools/list (on the probe connection, recorded
// as a set-up call) for a cheap read-only tool and the arguments to call it
// with. See chooseTool for the rule.
func (r *runner) pickTool(ctx context.Context, c *Conn) (string, map[string]any, error) {
	p, err := Prepare(Request{Method: "tools/list", Params: json.RawMessage(`{}`), Tier: 1}, c.Era())
	if err != nil {
		return "", nil, err
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, r.p.Timeout)
	m, err := c.w.call(cctx, p, c.ids.Add(1))
	cancel()
	if err == nil {
		err = m.outcome("tools/list")
	}
	r.finish(opKey{Method: "tools/list", Name: "(tool auto)", Tier: 1}, 0, start, start, err, true)
	if err != nil {
		return "", nil, fmt.Errorf("--tool auto: tools/list: %w", err)
	}
	var list struct {
		Tools []toolInfo `json:"tools"`
	}
	if err := json.Unmarshal(m.Result, &list); err != nil {
		return "", nil, fmt.Errorf("--tool auto: tools/list result: %w", err)
	}
	t, err := chooseTool(list.Tools)
	if err != nil {
		return "", nil, err
	}
	r.opts.Logger.Info("--tool auto picked a tool", "tool", t.Name, "arguments", t.arguments())
	return t.Name, t.arguments(), nil
}

// chooseTool picks, deterministically: a tool named like echo or ping (the
// conventional no-op), else a tool annotated read-only and not open-world;
// among those the one with the fewest required arguments, then by name.
// Tools whose required arguments cannot be made up from their schema are
// skipped.
func chooseTool(tools []toolInfo) (toolInfo, error) {
	var cands []toolInfo
	for _, t := range tools {
		if t.callable() && (t.noOpName() || t.readOnly()) {
			cands = append(cands, t)
		}
	}
	if len(cands) == 0 {
		names := make([]string, len(tools))
		for i, t := range tools {
			names[i] = t.Name
		}
		return toolInfo{}, fmt.Errorf("%w among %d tools [%s]: none is named echo/ping or annotated readOnlyHint (with required arguments of simple types); name one with --tool and --args",
			errNoTool, len(tools), strings.Join(names, ", "))
	}
	slices.SortStableFunc(cands, func(a, b toolInfo) int {
		if a.noOpName() != b.noOpName() {
			if a.noOpName() {
				return -1
			}
			return 1
		}
		if d := len(a.InputSchema.Required) - len(b.InputSchema.Required); d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return cands[0], nil
}

func (t toolInfo) noOpName() bool {
	n := strings.ToLower(t.Name)
	return n == "echo" || n == "ping" || strings.HasSuffix(n, "_echo") || strings.HasSuffix(n, "-echo")
}

func (t toolInfo) readOnly() bool {
	a := t.Annotations
	return a != nil && a.ReadOnlyHint != nil && *a.ReadOnlyHint && (a.OpenWorldHint == nil || !*a.OpenWorldHint)
}

// callable: every required argument has a type an argument can be made for.
func (t toolInfo) callable() bool {
	for _, name := range t.InputSchema.Required {
		if _, ok := t.argument(name); !ok {
			return false
		}
	}
	return true
}

// arguments fills the required arguments: the first enum value, else a
// placeholder of the type ("andon", 1, true, [], {}).
func (t toolInfo) arguments() map[string]any {
	args := map[string]any{}
	for _, name := range t.InputSchema.Required {
		args[name], _ = t.argument(name)
	}
	return args
}

func (t toolInfo) argument(name string) (any, bool) {
	prop, ok := t.InputSchema.Properties[name]
	if !ok {
		return nil, false
	}
	if len(prop.Enum) > 0 {
		return prop.Enum[0], true
	}
	typ, _ := prop.Type.(string)
	if types, ok := prop.Type.([]any); ok && len(types) > 0 {
		typ, _ = types[0].(string)
	}
	switch typ {
	case "string":
		return "andon", true
	case "number", "integer":
		return 1, true
	case "boolean":
		return true, true
	case "array":
		return []any{}, true
	case "object":
		return map[string]any{}, true
	}
	return nil, false
}
