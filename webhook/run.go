package webhook

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/andon-sre/andon/andon/stores"
)

// RunOptions are the command line of 'andon webhook'.
type RunOptions struct {
	ConfigFile string
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
	store, err := stores.Open(ctx, cfg.DB, true)
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
	log.Info("andon webhook started", "config", o.ConfigFile, "db", stores.Describe(cfg.DB))
	for {
		select {
		case <-hup:
			next, err := LoadConfig(o.ConfigFile)
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
