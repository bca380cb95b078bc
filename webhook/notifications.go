package webhook

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"github.com/andon-sre/andon/notify"
)

// checkNotifications validates the notifications section (defaults, secret files).
func checkNotifications(c *Config) error {
	if err := c.Notifications.Validate(); err != nil {
		return fmt.Errorf("notifications: %w", err)
	}
	return nil
}

// startNotifier tells the configured endpoints of every andon the ledger
// opens or resolves, through the API, the CLI's --url, or an alert.
func (s *Server) startNotifier(cfg *Config) {
	if len(cfg.Notifications.Endpoints) == 0 {
		return
	}
	s.notifier = notify.New(cfg.Notifications, s.reg, s.log)
	s.ledger.Events = s.notifier
}

// keepNotifications keeps the running notifications on reload: endpoints and
// secrets change with a restart (the queues hold events signed for the old ones).
func (s *Server) keepNotifications(old, next *Config) {
	if !reflect.DeepEqual(old.Notifications, next.Notifications) {
		s.log.Warn("notifications changes take effect after a restart")
		next.Notifications = old.Notifications
	}
}

// stopNotifier sends what is queued for up to 10 s, then counts the rest as dead letters.
func (s *Server) stopNotifier() {
	if s.notifier == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.notifier.Close(ctx)
}
