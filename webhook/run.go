package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/andon-sre/andon/andon/stores"
)

// RunOptions are the command line of 'andon webhook'.
type RunOptions struct {
	ConfigFile string
	Init       bool            // create the ledger when its file does not exist yet
	Web        *web.FlagConfig // listen addresses and --web.config.file (TLS, basic auth)
	Logger     *slog.Logger
}

// Run serves until ctx ends, then shuts down gracefully: in-flight requests
// finish, running actions finish, the store closes. SIGHUP reloads the config.
func Run(ctx context.Context, o RunOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := LoadConfig(o.ConfigFile)
	if err != nil {
		return err
	}
	loopback := listensOnLoopback(o.Web)
	if cfg.InsecureNoAuth {
		var addrs []string
		if o.Web != nil && o.Web.WebListenAddresses != nil {
			addrs = *o.Web.WebListenAddresses
		}
		if !loopback {
			return fmt.Errorf("insecure_no_auth: true needs --web.listen-address on loopback (127.0.0.1:PORT or [::1]:PORT) and no systemd socket, not %q: without authentication anyone who reaches it could trigger and resolve andons", strings.Join(addrs, ", "))
		}
		log.Warn("running WITHOUT authentication (insecure_no_auth): listening on loopback only", "addresses", addrs)
	}
	// With --init, a missing SQLite file or an empty PostgreSQL database becomes a new ledger.
	store, err := stores.Open(ctx, cfg.DB, o.Init)
	if err != nil {
		return err
	}
	s, err := New(cfg, store, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, o.Web, log) }()
	log.Info("andon webhook started", "config", o.ConfigFile, "db", stores.Describe(cfg.DB), "ledger_id", s.ledger.Store.Identity().ID)
	for {
		select {
		case <-hup:
			next, err := LoadConfig(o.ConfigFile)
			if err == nil && next.InsecureNoAuth && !loopback {
				err = errors.New("insecure_no_auth needs a loopback listen address: restart with one")
			}
			if err != nil {
				log.Error("config reload failed, keeping the running config", "err", err)
				continue
			}
			s.Reload(next)
			log.Info("config reloaded", "config", o.ConfigFile)
		case err := <-errc:
			return errors.Join(err, s.Close())
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := srv.Shutdown(sctx)
			cancel()
			<-errc
			log.Info("andon webhook stopped")
			return errors.Join(err, s.Close())
		}
	}
}

// listensOnLoopback: every listen address names a loopback host. An empty
// host (":9095") means every interface, and a socket from systemd is unknown.
func listensOnLoopback(w *web.FlagConfig) bool {
	if w == nil || w.WebListenAddresses == nil || len(*w.WebListenAddresses) == 0 || (w.WebSystemdSocket != nil && *w.WebSystemdSocket) {
		return false
	}
	for _, a := range *w.WebListenAddresses {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return false
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}
