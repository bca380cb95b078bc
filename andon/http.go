package andon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/andon-sre/andon/internal/httpjson"
)

// maxRequestBody bounds ledger API request bodies.
const maxRequestBody = 1 << 20

// Handler serves the ledger under /api/v1:
//
//	POST /api/v1/andons                 trigger (201 opened, 200 already open for the origin)
//	GET  /api/v1/andons?sku=&status=&type=&limit=
//	GET  /api/v1/andons/{id}            the andon and its receipts
//	POST /api/v1/andons/{id}/resolve    resolve (409 when someone else already did)
//	GET  /api/v1/gate?sku=&stage=       can the sku proceed?
//	GET  /api/v1/receipts/verify        check the receipt chain
//	GET  /api/v1/actions?service=&result=&limit=  actuator decisions
func (l *Ledger) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/andons", func(w http.ResponseWriter, r *http.Request) {
		var t Trigger
		if !decodeBody(w, r, &t) {
			return
		}
		res, err := l.Trigger(r.Context(), t)
		if err != nil {
			writeErr(w, err)
			return
		}
		code := http.StatusOK
		if res.Created {
			code = http.StatusCreated
		}
		httpjson.Write(w, code, res.Andon)
	})
	mux.HandleFunc("GET /api/v1/andons", func(w http.ResponseWriter, r *http.Request) {
		f, err := parseFilter(r.URL.Query())
		if err != nil {
			writeErr(w, err)
			return
		}
		list, err := l.List(r.Context(), f)
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, nonNil(list))
	})
	mux.HandleFunc("GET /api/v1/andons/{id}", func(w http.ResponseWriter, r *http.Request) {
		a, rs, err := l.Show(r.Context(), r.PathValue("id"))
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, showResponse{Andon: a, Receipts: nonNil(rs)})
	})
	mux.HandleFunc("POST /api/v1/andons/{id}/resolve", func(w http.ResponseWriter, r *http.Request) {
		var res Resolution
		if !decodeBody(w, r, &res) {
			return
		}
		a, err := l.Resolve(r.Context(), r.PathValue("id"), res)
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, a)
	})
	mux.HandleFunc("GET /api/v1/gate", func(w http.ResponseWriter, r *http.Request) {
		g, err := l.Gate(r.Context(), r.URL.Query().Get("sku"), r.URL.Query().Get("stage"))
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, g)
	})
	mux.HandleFunc("GET /api/v1/receipts/verify", func(w http.ResponseWriter, r *http.Request) {
		probs, err := l.Verify(r.Context())
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, verifyResponse{OK: len(probs) == 0, Problems: nonNil(probs)})
	})
	mux.HandleFunc("GET /api/v1/actions", func(w http.ResponseWriter, r *http.Request) {
		f, err := parseActionFilter(r.URL.Query())
		if err != nil {
			writeErr(w, err)
			return
		}
		recs, err := l.Actions(r.Context(), f)
		if err != nil {
			writeErr(w, err)
			return
		}
		httpjson.Write(w, http.StatusOK, nonNil(recs))
	})
	return mux
}

// parseLimit reads ?limit=: absent or 0 is the default, else a positive integer.
func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: limit=%q is not a non-negative integer", ErrInvalid, v)
	}
	return n, nil
}

// oneOf checks a query parameter against its allowed values ("" = any).
func oneOf(q url.Values, name string, allowed ...string) (string, error) {
	v := q.Get(name)
	if v == "" || slices.Contains(allowed, v) {
		return v, nil
	}
	return "", fmt.Errorf("%w: %s=%q: use one of %s", ErrInvalid, name, v, strings.Join(allowed, ", "))
}

func parseFilter(q url.Values) (Filter, error) {
	f := Filter{SKU: q.Get("sku")}
	var err error
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	st, err := oneOf(q, "status", string(StatusOpen), string(StatusResolved))
	if err != nil {
		return f, err
	}
	f.Status = Status(st)
	if t := q.Get("type"); t != "" {
		if f.Type, err = ParseFailureType(t); err != nil {
			return f, fmt.Errorf("%w: type: %w", ErrInvalid, err)
		}
	}
	return f, nil
}

// ActionResults are the results an action record can have.
var ActionResults = []string{"applied", "dry_run", "skipped", "failed"}

func parseActionFilter(q url.Values) (ActionFilter, error) {
	f := ActionFilter{Service: q.Get("service")}
	var err error
	if f.Limit, err = parseLimit(q); err != nil {
		return f, err
	}
	f.Result, err = oneOf(q, "result", ActionResults...)
	return f, err
}

type showResponse struct {
	Andon    Andon     `json:"andon"`
	Receipts []Receipt `json:"receipts"`
}

type verifyResponse struct {
	OK       bool      `json:"ok"`
	Problems []Problem `json:"problems"`
}

// errorResponse is the shape of httpjson.Error's answers, read by Client.
type errorResponse struct {
	Error string `json:"error"`
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if code, err := httpjson.Decode(w, r, v, maxRequestBody); err != nil {
		httpjson.Error(w, code, err.Error())
		return false
	}
	return true
}

// statusOf maps ledger errors to HTTP status codes and back (Client).
var statusOf = []struct {
	err  error
	code int
}{
	{ErrInvalid, http.StatusBadRequest},
	{ErrNotFound, http.StatusNotFound},
	{ErrAlreadyResolved, http.StatusConflict},
	{ErrUnavailable, http.StatusServiceUnavailable},
	{ErrTampered, http.StatusInternalServerError}, // only with its own message: see Client.do
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	for _, s := range statusOf {
		if errors.Is(err, s.err) {
			code = s.code
			break
		}
	}
	httpjson.Error(w, code, err.Error())
}

// Client talks to a ledger served by 'andon webhook'.
type Client struct {
	URL         string // e.g. http://127.0.0.1:9095
	BearerToken string
	HTTP        *http.Client
}

var _ API = (*Client)(nil)

func (c *Client) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	_, err := c.do(ctx, method, path, q, in, out)
	return err
}

// do performs one request and returns the HTTP status code.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) (int, error) {
	u := strings.TrimRight(c.URL, "/") + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, fmt.Errorf("ledger URL %q: %w", c.URL, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.BearerToken)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%w: reading %s: %w", ErrUnavailable, u, err)
	}
	if resp.StatusCode >= 300 {
		var e errorResponse
		_ = json.Unmarshal(b, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		for _, s := range statusOf {
			// A 500 is ErrTampered only when it says so: other 500s are unexpected errors.
			if s.code == resp.StatusCode && (s.code != http.StatusInternalServerError || strings.HasPrefix(e.Error, s.err.Error())) {
				// The server's message already starts with the sentinel's text: say it once.
				return resp.StatusCode, fmt.Errorf("%w: %s", s.err, strings.TrimPrefix(e.Error, s.err.Error()+": "))
			}
		}
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, u, resp.StatusCode, e.Error)
	}
	return resp.StatusCode, json.Unmarshal(b, out)
}

// Trigger implements API.
func (c *Client) Trigger(ctx context.Context, t Trigger) (TriggerResult, error) {
	var a Andon
	code, err := c.do(ctx, http.MethodPost, "/api/v1/andons", nil, t, &a)
	if err != nil {
		return TriggerResult{}, err
	}
	return TriggerResult{Andon: a, Created: code == http.StatusCreated}, nil
}

// Resolve implements API.
func (c *Client) Resolve(ctx context.Context, id string, res Resolution) (Andon, error) {
	var a Andon
	err := c.call(ctx, http.MethodPost, "/api/v1/andons/"+url.PathEscape(id)+"/resolve", nil, res, &a)
	return a, err
}

// Gate implements API.
func (c *Client) Gate(ctx context.Context, sku, stage string) (GateResult, error) {
	var g GateResult
	err := c.call(ctx, http.MethodGet, "/api/v1/gate", url.Values{"sku": {sku}, "stage": {stage}}, nil, &g)
	return g, err
}

// Show implements API.
func (c *Client) Show(ctx context.Context, id string) (Andon, []Receipt, error) {
	var s showResponse
	err := c.call(ctx, http.MethodGet, "/api/v1/andons/"+url.PathEscape(id), nil, nil, &s)
	return s.Andon, s.Receipts, err
}

// List implements API.
func (c *Client) List(ctx context.Context, f Filter) ([]Andon, error) {
	var list []Andon
	q := url.Values{"sku": {f.SKU}, "status": {string(f.Status)}, "type": {string(f.Type)}, "limit": {strconv.Itoa(f.Limit)}}
	err := c.call(ctx, http.MethodGet, "/api/v1/andons", q, nil, &list)
	return list, err
}

// Verify implements API.
func (c *Client) Verify(ctx context.Context) ([]Problem, error) {
	var v verifyResponse
	err := c.call(ctx, http.MethodGet, "/api/v1/receipts/verify", nil, nil, &v)
	return v.Problems, err
}

// Actions implements API.
func (c *Client) Actions(ctx context.Context, f ActionFilter) ([]ActionRecord, error) {
	var recs []ActionRecord
	q := url.Values{"service": {f.Service}, "result": {f.Result}, "limit": {strconv.Itoa(f.Limit)}}
	err := c.call(ctx, http.MethodGet, "/api/v1/actions", q, nil, &recs)
	return recs, err
}
