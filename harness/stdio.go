package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// stdioWire speaks the stdio transport: newline-delimited JSON-RPC on the
// spawned server's stdin and stdout.
type stdioWire struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	mu   sync.Mutex // one writer at a time keeps lines whole
	r    *router
	done chan struct{}
}

func startStdio(command []string) (*stdioWire, error) {
	if len(command) == 0 {
		return nil, errors.New("stdio transport needs a server command (--command)")
	}
	cmd := exec.Command(command[0], command[1:]...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting stdio server %q: %w", command[0], err)
	}
	w := &stdioWire{cmd: cmd, in: in, r: newRouter(), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for sc.Scan() {
			w.r.deliver(sc.Bytes())
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		w.r.fail(fmt.Errorf("stdout of %q closed: %w", command[0], err))
	}()
	return w, nil
}

func (w *stdioWire) negotiated(string) {}

func (w *stdioWire) write(body []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.in.Write(append(body, '\n')); err != nil {
		return &CallError{Class: ClassSessionLost, Err: fmt.Errorf("writing to stdio server: %w", err)}
	}
	return nil
}

func (w *stdioWire) call(ctx context.Context, p *Prepared, id uint64) (*message, error) {
	return w.r.call(ctx, id, p.method, func() error { return w.write(p.body(id)) })
}

func (w *stdioWire) notify(_ context.Context, body []byte) error { return w.write(body) }

// close closes stdin (the stdio way to end a session), then kills the
// server if it has not exited within two seconds.
func (w *stdioWire) close(context.Context) error {
	_ = w.in.Close()
	select {
	case <-w.done:
	case <-time.After(2 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
	_ = w.cmd.Wait()
	return nil
}
