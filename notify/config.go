package notify

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/andon-sre/andon/andon"
)

// Config is the `notifications:` section of the webhook config.
type Config struct {
	// Source is the CloudEvents source attribute (default "urn:andon:ledger").
	Source string `yaml:"source"`
	// QueueSize bounds each endpoint's queue (default 1000); a full queue
	// drops the event and counts a dead letter: ingest never waits.
	QueueSize int `yaml:"queue_size"`
	// MaxAttempts per event and endpoint (default 5).
	MaxAttempts int `yaml:"max_attempts"`
	// RetryBackoff is the first wait between attempts, doubled each time up
	// to a minute (default 1s).
	RetryBackoff time.Duration `yaml:"retry_backoff"`
	// Timeout of one attempt (default 10s).
	Timeout   time.Duration `yaml:"timeout"`
	Endpoints []Endpoint    `yaml:"endpoints"`
}

// Endpoint is one HTTP receiver of andon events.
type Endpoint struct {
	// Name labels the endpoint's metrics (default: the URL's host).
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Secret (or SecretFile) is the HMAC-SHA256 key of the signature header.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Events to send: andon_triggered, andon_resolved (default both).
	Events []andon.ReceiptType `yaml:"events"`
}

// EventTypes are the andon events an endpoint may ask for.
var EventTypes = []andon.ReceiptType{andon.ReceiptTriggered, andon.ReceiptResolved}

// Validate fills defaults, reads secret files and checks every endpoint.
func (c *Config) Validate() error {
	if c.Source == "" {
		c.Source = "urn:andon:ledger"
	}
	if c.QueueSize == 0 {
		c.QueueSize = 1000
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBackoff == 0 {
		c.RetryBackoff = time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	switch {
	case c.QueueSize < 1 || c.QueueSize > 1_000_000:
		return fmt.Errorf("queue_size %d: use 1 to 1000000", c.QueueSize)
	case c.MaxAttempts < 1 || c.MaxAttempts > 100:
		return fmt.Errorf("max_attempts %d: use 1 to 100", c.MaxAttempts)
	case c.RetryBackoff < 0 || c.Timeout < 0:
		return errors.New("retry_backoff and timeout must be positive durations such as 1s")
	}
	names := map[string]bool{}
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		where := fmt.Sprintf("endpoints[%d]", i)
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: give an absolute http:// or https:// URL", where, e.URL)
		}
		if e.Name == "" {
			e.Name = u.Host
		}
		if names[e.Name] {
			return fmt.Errorf("%s: name %q is used twice: give each endpoint its own name", where, e.Name)
		}
		names[e.Name] = true
		if e.SecretFile != "" {
			if e.Secret != "" {
				return fmt.Errorf("%s: give secret or secret_file, not both", where)
			}
			b, err := os.ReadFile(e.SecretFile)
			if err != nil {
				return fmt.Errorf("%s: secret_file: %w", where, err)
			}
			e.Secret = strings.TrimSpace(string(b))
		}
		if len(e.Secret) < 16 {
			return fmt.Errorf("%s: secret of %d bytes: events are signed, use at least 16 random bytes (e.g. openssl rand -hex 32)", where, len(e.Secret))
		}
		if len(e.Events) == 0 {
			e.Events = EventTypes
		}
		for _, t := range e.Events {
			if !slices.Contains(EventTypes, t) {
				return fmt.Errorf("%s: event %q: use andon_triggered or andon_resolved", where, t)
			}
		}
	}
	return nil
}
