package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// streamableWire speaks the Streamable HTTP transport: one POST per message,
// the answer as application/json or as a text/event-stream that may carry
// priming events, notifications and comments before the response.
type streamableWire struct {
	http   *http.Client
	url    string
	header http.Header

	mu        sync.RWMutex
	version   string // Mcp-Protocol-Version header value, "" before the handshake
	sessionID string
}

func (s *streamableWire) negotiated(v string) {
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
}

func (s *streamableWire) headers(req *http.Request, method, name, tier string) {
	h := req.Header
	for k, v := range s.header {
		h[k] = v
	}
	h["Content-Type"] = []string{"application/json"}
	h["Accept"] = []string{"application/json, text/event-stream"}
	if tier != "" {
		h["X-Priority-Tier"] = []string{tier}
	}
	s.mu.RLock()
	version, sid := s.version, s.sessionID
	s.mu.RUnlock()
	if version != "" {
		h["Mcp-Protocol-Version"] = []string{version}
	}
	if sid != "" {
		h["Mcp-Session-Id"] = []string{sid}
	}
	if version >= Era20260728 && method != "" {
		h["Mcp-Method"] = []string{method}
		if name != "" {
			h["Mcp-Name"] = []string{name}
		}
	}
}

func (s *streamableWire) post(ctx context.Context, body []byte, method, name, tier string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("target URL %q: %w", s.url, err)
	}
	s.headers(req, method, name, tier)
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, classified(err, "POST %s (%s)", s.url, method)
	}
	if resp.StatusCode/100 != 2 {
		defer discard(resp)
		return nil, s.statusError(resp, method)
	}
	return resp, nil
}

// statusError classifies a non-2xx answer; a 404 on an established session
// means the server forgot it.
func (s *streamableWire) statusError(resp *http.Response, method string) error {
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	ce := &CallError{Class: "http_" + strconv.Itoa(resp.StatusCode), Status: resp.StatusCode,
		Err: fmt.Errorf("POST %s (%s): HTTP %d: %s", s.url, method, resp.StatusCode, bytes.TrimSpace(snippet))}
	var m message
	if json.Unmarshal(snippet, &m) == nil && m.Error != nil {
		// A JSON-RPC error says more than the status that carried it.
		ce.Code = m.Error.Code
		ce.Class = "jsonrpc_" + strconv.Itoa(m.Error.Code)
		return ce
	}
	s.mu.RLock()
	sid := s.sessionID
	s.mu.RUnlock()
	if resp.StatusCode == http.StatusNotFound && sid != "" {
		ce.Class = ClassSessionLost
	}
	return ce
}

func (s *streamableWire) call(ctx context.Context, p *Prepared, id uint64) (*message, error) {
	resp, err := s.post(ctx, p.body(id), p.method, p.name, p.tierHeader)
	if err != nil {
		return nil, err
	}
	defer discard(resp)
	if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" && p.method == "initialize" {
		s.mu.Lock()
		s.sessionID = sid
		s.mu.Unlock()
	}
	switch mediaType(resp.Header.Get("Content-Type")) {
	case "application/json":
		buf := bufPool.Get().(*bytes.Buffer)
		defer bufPool.Put(buf)
		buf.Reset()
		if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxJSONResponse)); err != nil {
			return nil, &CallError{Class: classOfRead(err), Err: fmt.Errorf("reading JSON response to %s: %w", p.method, err)}
		}
		var m message
		if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
			return nil, &CallError{Class: ClassProtocol, Err: fmt.Errorf("JSON response to %s: %w: %s", p.method, err, truncate(buf.Bytes(), 200))}
		}
		if !m.isResponseTo(id) {
			return nil, &CallError{Class: ClassProtocol, Err: fmt.Errorf("response to %s carries id %s, want %d", p.method, m.ID, id)}
		}
		return &m, nil
	case "text/event-stream":
		return awaitSSE(NewSSEReader(resp.Body, 0), id, p.method)
	default:
		return nil, &CallError{Class: ClassProtocol, Err: fmt.Errorf("response to %s: HTTP %d with Content-Type %q, want application/json or text/event-stream", p.method, resp.StatusCode, resp.Header.Get("Content-Type"))}
	}
}

// maxJSONResponse bounds what the harness reads of one JSON answer.
const maxJSONResponse = 16 << 20

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// mediaType is the Content-Type without parameters, lower-cased only when
// needed (mime.ParseMediaType allocates a map per response).
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	if ct == "application/json" || ct == "text/event-stream" {
		return ct
	}
	return strings.ToLower(ct)
}

// awaitSSE reads events until the response to id; priming events (no data),
// notifications and server requests on the way are skipped.
func awaitSSE(r *SSEReader, id uint64, method string) (*message, error) {
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if Classify(err) == ClassTimeout {
				return nil, &CallError{Class: ClassTimeout, Err: fmt.Errorf("no response to %s (id %d) on its SSE stream before the deadline: %w", method, id, err)}
			}
			return nil, &CallError{Class: classOfRead(err), Err: fmt.Errorf("SSE stream for %s (id %d) ended before the response: %w", method, id, err)}
		}
		if len(ev.Data) == 0 {
			continue
		}
		var m message
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			return nil, &CallError{Class: ClassProtocol, Err: fmt.Errorf("SSE event for %s is not JSON-RPC: %v: %s", method, err, truncate(ev.Data, 200))}
		}
		if m.isResponseTo(id) {
			return &m, nil
		}
	}
}

// classOfRead separates a server that cut the stream (reset) from one that
// sent garbage (protocol).
func classOfRead(err error) string {
	if c := Classify(err); c != ClassOther {
		return c
	}
	return ClassProtocol
}

func (s *streamableWire) notify(ctx context.Context, body []byte) error {
	resp, err := s.post(ctx, body, "", "", "")
	if err != nil {
		return err
	}
	discard(resp)
	return nil
}

// close terminates a 2025-11-25 session with DELETE; a 405 means the server
// does not let clients end sessions, which is allowed.
func (s *streamableWire) close(ctx context.Context) error {
	s.mu.RLock()
	sid := s.sessionID
	s.mu.RUnlock()
	if sid == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, s.url, nil)
	if err != nil {
		return err
	}
	s.headers(req, "", "", "")
	resp, err := s.http.Do(req)
	if err != nil {
		return classified(err, "DELETE session %s", sid)
	}
	defer discard(resp)
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusMethodNotAllowed {
		return s.statusError(resp, "DELETE")
	}
	return nil
}

// discard drains a little of the body so the connection can be reused.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
}
