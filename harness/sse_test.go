package harness

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t testing.TB, in string, limit int) ([]Event, error) {
	r := NewSSEReader(strings.NewReader(in), limit)
	var evs []Event
	for {
		ev, err := r.Next()
		if err != nil {
			if err == io.EOF {
				return evs, nil
			}
			return evs, err
		}
		evs = append(evs, ev)
	}
}

func TestSSEReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Event
		err      error
	}{
		{"a go-sdk priming event then the response", "event: prime\nid: s_1\ndata: \n\nevent: message\nid: s_2\ndata: {\"id\":1}\n\n",
			[]Event{{Type: "prime", ID: "s_1", Data: []byte{}, Retry: -1}, {Type: "message", ID: "s_2", Data: []byte(`{"id":1}`), Retry: -1}}, nil},
		{"comments are skipped and CRLF line ends accepted", ": ping\r\ndata: a\r\n\r\n", []Event{{Data: []byte("a"), Retry: -1}}, nil},
		{"data lines join with newlines", "data: a\ndata:b\n\n", []Event{{Data: []byte("a\nb"), Retry: -1}}, nil},
		{"retry is read, a bad retry ignored", "retry: 250\nid: 7\n\nretry: x1\ndata: d\n\n",
			[]Event{{ID: "7", Retry: 250}, {ID: "7", Data: []byte("d"), Retry: -1}}, nil},
		{"an id with NUL is ignored", "id: a\x00b\ndata: d\n\n", []Event{{Data: []byte("d"), Retry: -1}}, nil},
		{"an event cut off by the end of the stream is an unexpected EOF", "data: {\"id\":", nil, io.ErrUnexpectedEOF},
		{"an unterminated event is an unexpected EOF", "data: x\n", nil, io.ErrUnexpectedEOF},
		{"an event over the limit is refused", "data: " + strings.Repeat("x", 100) + "\n\n", nil, ErrEventTooLarge},
		{"a line over the limit without newline is refused", strings.Repeat("y", 10000), nil, ErrEventTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.in, 64)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Type != w.Type || g.ID != w.ID || g.Retry != w.Retry || !bytes.Equal(g.Data, w.Data) {
					t.Errorf("event %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// FuzzSSEReader: any input ends in EOF or an error, never a panic or a hang,
// and no event exceeds the limit.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{"event: prime\nid: 1\ndata: \n\n", "data: a\r\n\r\n", ": c\nretry: 5\n\n", "data:x\ndata: y\n\n", "id\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 256
		r := NewSSEReader(bytes.NewReader(in), limit)
		for range len(in) + 1 {
			ev, err := r.Next()
			if err != nil {
				return
			}
			if len(ev.Data) > limit {
				t.Fatalf("event of %d bytes passed the %d limit", len(ev.Data), limit)
			}
		}
		if _, err := r.Next(); err == nil {
			t.Fatal("more events than input bytes")
		}
	})
}

// FuzzProfile: any YAML either parses into a valid profile or fails with an error.
func FuzzProfile(f *testing.F) {
	for _, name := range []string{"baseline", "connection-flood", "overload", "spike", "soak"} {
		data, _ := builtin.ReadFile("profiles/" + name + ".yaml")
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ParseProfile(in, "fuzz.yaml")
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("parsed profile fails validation: %v", err)
		}
		if p.needsTool() {
			// What the run does once it knows the tool (auto: asks the server).
			name := p.Tool
			if name == ToolAuto {
				name = "echo"
			}
			p = p.WithTool(name, nil)
		}
		if _, err := newMixTable(p.Mix, Era20260728); err != nil {
			t.Fatalf("valid profile's mix does not encode: %v", err)
		}
	})
}
