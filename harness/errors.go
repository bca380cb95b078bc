package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// Error classes, the `class` label of andon_harness_errors_total and the
// error_type label of mcp_client_operation_duration_seconds. HTTP statuses
// become "http_<code>", JSON-RPC errors "jsonrpc_<code>".
const (
	ClassTimeout     = "timeout"
	ClassRefused     = "refused"
	ClassReset       = "reset"
	ClassSessionLost = "session_lost"
	ClassProtocol    = "protocol"
	ClassToolError   = "tool_error"
	ClassOther       = "other"
	// ClassNoSession: the request's session could not be set up (the set-up
	// call's own error is in the set-up rows).
	ClassNoSession = "no_session"
)

// CallError is a failed call with its class.
type CallError struct {
	Class  string
	Status int // HTTP status, when there was one
	Code   int // JSON-RPC code, when there was one
	Err    error
}

func (e *CallError) Error() string { return e.Class + ": " + e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// Classify names the class of err ("" for nil).
func Classify(err error) string {
	if err == nil {
		return ""
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Class
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return ClassTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ClassReset
	}
	return ClassOther
}

// classified wraps err with its class so later layers keep it.
func classified(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var ce *CallError
	if errors.As(err, &ce) {
		return err
	}
	return &CallError{Class: Classify(err), Err: fmt.Errorf(format+": %w", append(args, err)...)}
}
