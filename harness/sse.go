package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Event is one server-sent event as defined by the WHATWG EventSource rules.
// Comments (lines starting with ':') are skipped; Retry is the reconnection
// time in milliseconds or -1 when the event did not set it.
type Event struct {
	Type  string
	ID    string
	Data  []byte
	Retry int
}

// ErrEventTooLarge is returned when one event grows beyond the reader's limit,
// which protects the harness against a server that streams without blank lines.
var ErrEventTooLarge = errors.New("server-sent event exceeds the size limit")

// SSEReader parses a text/event-stream. Lines end in "\n" or "\r\n".
type SSEReader struct {
	r     *bufio.Reader
	limit int
	// LastID survives across events, as the EventSource spec requires.
	LastID string
}

// NewSSEReader reads events of at most limit bytes each (limit <= 0: 1 MiB).
func NewSSEReader(r io.Reader, limit int) *SSEReader {
	if limit <= 0 {
		limit = 1 << 20
	}
	return &SSEReader{r: bufio.NewReaderSize(r, 4096), limit: limit}
}

// Next returns the next dispatched event. It returns io.EOF at a clean end of
// stream; an event cut off by the end of the stream is discarded (as browsers
// do) and reported as io.ErrUnexpectedEOF so callers can tell a truncated
// response from a finished one.
func (s *SSEReader) Next() (Event, error) {
	ev := Event{Retry: -1}
	var data []byte
	hasData, pending := false, false
	size := 0
	for {
		line, err := s.readLine(&size)
		if err != nil {
			if err == io.EOF && pending {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !pending {
				continue
			}
			ev.ID = s.LastID
			if hasData {
				ev.Data = data
				return ev, nil
			}
			if ev.Type != "" || ev.Retry >= 0 || ev.ID != "" {
				// An event without data lines (e.g. a bare id: or retry:) is
				// still reported: MCP priming events carry only an id.
				return ev, nil
			}
			ev, pending, size = Event{Retry: -1}, false, 0
			continue
		}
		if line[0] == ':' {
			continue // comment, e.g. a keep-alive
		}
		pending = true
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		case "event":
			ev.Type = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				s.LastID = string(value)
			}
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 && isDigits(value) {
				ev.Retry = n
			}
		}
	}
}

func (s *SSEReader) readLine(size *int) ([]byte, error) {
	line, err := s.r.ReadSlice('\n')
	for err == bufio.ErrBufferFull {
		// A line longer than the buffer: keep reading, bounded by the limit.
		buf := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(buf)+*size > s.limit {
				return nil, fmt.Errorf("%w (%d bytes): the server sent a line without an end", ErrEventTooLarge, s.limit)
			}
			line, err = s.r.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			// A final line without "\n" is incomplete by definition.
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	*size += len(line)
	if *size > s.limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrEventTooLarge, s.limit)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}
