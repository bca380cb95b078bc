// Package loopback gives tests addresses on 127.0.0.1 for the real processes they start
// (Prometheus, Alertmanager, `andon webhook`), which need a port before they listen.
package loopback

import (
	"net"
	"testing"
)

// FreeAddr is a 127.0.0.1 address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
