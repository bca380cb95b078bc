package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Protocol revisions the harness speaks.
const (
	Era20260728 = "2026-07-28" // stateless: server/discover, _meta, Mcp-Method/Mcp-Name headers
	Era20251125 = "2025-11-25" // initialize handshake, MCP-Session-Id, DELETE at the end
	EraAuto     = "auto"

	clientName    = "andon-harness"
	clientVersion = "0.1.0"

	metaProtocolVersion    = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo         = "io.modelcontextprotocol/clientInfo"
	metaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"
)

// Request is one JSON-RPC call the harness sends. Name is the tool, prompt or
// resource URI for methods that carry one (it becomes the Mcp-Name header).
type Request struct {
	Method string
	Name   string
	Params json.RawMessage // without _meta; nil for none
	Tier   int
}

// Prepared is a request encoded for one protocol era, its body split around
// the id so each send only formats the id (one allocation on the hot path).
type Prepared struct {
	method, name string
	tierHeader   string
	prefix       []byte // {"jsonrpc":"2.0","method":…,"params":…,"id":
}

func (e *Prepared) body(id uint64) []byte {
	b := make([]byte, 0, len(e.prefix)+22)
	b = append(b, e.prefix...)
	b = strconv.AppendUint(b, id, 10)
	return append(b, '}')
}

// Prepare encodes r for era: the 2026-07-28 revision adds the per-request
// _meta triple that replaces the initialize handshake.
func Prepare(r Request, era string) (*Prepared, error) {
	params := r.Params
	if era == Era20260728 {
		var err error
		if params, err = withMeta(params); err != nil {
			return nil, fmt.Errorf("request %s %s: %w", r.Method, r.Name, err)
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"jsonrpc":"2.0","method":`)
	m, _ := json.Marshal(r.Method)
	b.Write(m)
	if len(params) > 0 {
		b.WriteString(`,"params":`)
		b.Write(params)
	}
	b.WriteString(`,"id":`)
	tier := r.Tier
	if tier == 0 {
		tier = 2
	}
	return &Prepared{method: r.Method, name: r.Name, tierHeader: strconv.Itoa(tier), prefix: b.Bytes()}, nil
}

func withMeta(params json.RawMessage) (json.RawMessage, error) {
	obj := map[string]json.RawMessage{}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &obj); err != nil {
			return nil, fmt.Errorf("params must be a JSON object: %w", err)
		}
	}
	meta := map[string]any{}
	if raw, ok := obj["_meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("params._meta must be a JSON object: %w", err)
		}
	}
	meta[metaProtocolVersion] = Era20260728
	meta[metaClientInfo] = map[string]string{"name": clientName, "version": clientVersion}
	if _, ok := meta[metaClientCapabilities]; !ok {
		meta[metaClientCapabilities] = map[string]any{}
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	obj["_meta"] = m
	return json.Marshal(obj)
}

// message is the part of any JSON-RPC message the harness looks at.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// isResponseTo reports whether m answers the call with this numeric id.
func (m *message) isResponseTo(id uint64) bool {
	if m.Method != "" || len(m.ID) == 0 {
		return false
	}
	return string(bytes.Trim(m.ID, `"`)) == strconv.FormatUint(id, 10)
}

// outcome turns a response into nil or a classified error. A tool result with
// isError is a failure the server reported in-band.
func (m *message) outcome(method string) error {
	if m.Error != nil {
		return &CallError{Class: "jsonrpc_" + strconv.Itoa(m.Error.Code), Code: m.Error.Code,
			Err: fmt.Errorf("JSON-RPC error %d: %s", m.Error.Code, m.Error.Message)}
	}
	if m.Result == nil {
		return &CallError{Class: ClassProtocol, Err: fmt.Errorf("response has neither result nor error")}
	}
	if method == "tools/call" && bytes.Contains(m.Result, []byte(`"isError"`)) {
		var r struct {
			IsError bool `json:"isError"`
		}
		if json.Unmarshal(m.Result, &r) == nil && r.IsError {
			return &CallError{Class: ClassToolError, Err: fmt.Errorf("tool returned isError: %s", truncate(m.Result, 200))}
		}
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
