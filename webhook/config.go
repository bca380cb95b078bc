package webhook

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/andon-sre/andon/actuator"
	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/notify"
)

// Config is the file given to 'andon webhook --config'. Authentication is
// required (a bearer token, or insecure_no_auth on loopback); everything else
// has a default.
type Config struct {
	// DB is the ledger: a SQLite file (made by 'andon init', or by --init on
	// first start; default andon.db), or a postgres:// URL: the ledger several
	// replicas share (see README, topology).
	DB string `yaml:"db"`
	// SigningKeyFile is the ed25519 private key ('andon keygen') receipts are signed with.
	SigningKeyFile string `yaml:"signing_key_file"`
	// AlertRetention is how long alert records are kept (default 90d);
	// records an open andon references stay until it is resolved. Receipts
	// are never pruned.
	AlertRetention model.Duration `yaml:"alert_retention"`
	// LeaseTTL is how long the replica acting on a shared PostgreSQL ledger
	// holds the actuator lease without renewing it (default 10s): after a
	// crash, another replica takes over within it.
	LeaseTTL model.Duration `yaml:"lease_ttl"`
	// ReceiptsDir, when set, also receives every receipt as a JSON file.
	ReceiptsDir string `yaml:"receipts_dir"`
	// BearerToken (or BearerTokenFile) is required on /webhook and /api/v1
	// when set. TLS and basic auth come from --web.config.file.
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// InsecureNoAuth runs without a bearer token: then the receiver listens
	// on loopback only and warns. Without it, a missing token is an error.
	InsecureNoAuth bool `yaml:"insecure_no_auth"`
	// MaxBodyBytes bounds a notification (default 4 MiB); larger is 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// AndonStage is the stage recorded on alert-driven andons (default "execution"); one of Stages.
	AndonStage string `yaml:"andon_stage"`
	// Stages (stages, block_all_stages) are the pipeline's stages and what an open andon blocks.
	Stages andon.StagePolicy `yaml:",inline"`
	// OntologyBase is the IRI namespace of the receipts' ontology refs (default andon.DefaultOntologyBase).
	OntologyBase string `yaml:"ontology_base"`
	// Actuator is the actuator policy inline; ActuatorFile points to one instead.
	Actuator     yaml.Node `yaml:"actuator"`
	ActuatorFile string    `yaml:"actuator_file"`
	// Notifications post every andon triggered or resolved to HTTP endpoints (notify.Config).
	Notifications notify.Config `yaml:"notifications"`

	policy *actuator.Policy
}

// LoadConfig reads, defaults and validates the config file.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("webhook config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes a config strictly (unknown keys fail).
func ParseConfig(b []byte) (*Config, error) {
	c := &Config{}
	if err := actuator.DecodeStrict(b, c); err != nil {
		return nil, err
	}
	if c.DB == "" {
		c.DB = "andon.db"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 4 << 20
	}
	if c.AndonStage == "" {
		c.AndonStage = andon.StageExecution
	}
	if _, err := andon.NormalizeID("andon_stage", c.AndonStage); err != nil {
		return nil, err
	}
	if c.AlertRetention == 0 {
		c.AlertRetention = model.Duration(90 * 24 * time.Hour)
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = model.Duration(10 * time.Second)
	}
	if time.Duration(c.AlertRetention) < time.Hour {
		return nil, fmt.Errorf("alert_retention %s is too short: keep alert records at least 1h (they make re-sends idempotent)", c.AlertRetention)
	}
	if time.Duration(c.LeaseTTL) < 300*time.Millisecond {
		return nil, fmt.Errorf("lease_ttl %s is too short: use at least 300ms (the lease is renewed every third of it)", c.LeaseTTL)
	}
	if c.MaxBodyBytes < 1024 {
		return nil, fmt.Errorf("max_body_bytes %d is too small for any notification: use at least 1024", c.MaxBodyBytes)
	}
	if c.BearerTokenFile != "" {
		if c.BearerToken != "" {
			return nil, errors.New("give bearer_token or bearer_token_file, not both")
		}
		t, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("bearer_token_file: %w", err)
		}
		if c.BearerToken = strings.TrimSpace(string(t)); c.BearerToken == "" {
			return nil, fmt.Errorf("bearer_token_file %s is empty: an empty token would turn authentication off; write the token into it", c.BearerTokenFile)
		}
	}
	switch {
	case c.BearerToken != "" && c.InsecureNoAuth:
		return nil, errors.New("insecure_no_auth: true with a bearer token: choose one")
	case c.BearerToken == "" && !c.InsecureNoAuth && c.BearerTokenFile == "":
		return nil, errors.New("no bearer_token or bearer_token_file: the receiver acts on services and answers the CI gate, so it needs authentication; set one, or insecure_no_auth: true to run without (loopback only)")
	case c.BearerToken != "" && strings.TrimSpace(c.BearerToken) != c.BearerToken:
		return nil, errors.New("bearer_token has surrounding spaces: a client would never send them")
	}
	if err := checkStages(c); err != nil {
		return nil, err
	}
	if err := checkNotifications(c); err != nil {
		return nil, err
	}
	var err error
	switch {
	case c.ActuatorFile != "" && !c.Actuator.IsZero():
		return nil, errors.New("give the actuator policy inline (actuator:) or as a file (actuator_file:), not both")
	case c.ActuatorFile != "":
		c.policy, err = actuator.LoadPolicy(c.ActuatorFile)
	case c.Actuator.IsZero():
		c.policy, err = actuator.ParsePolicy(nil)
	default:
		var pb []byte
		if pb, err = yaml.Marshal(&c.Actuator); err == nil {
			c.policy, err = actuator.ParsePolicy(pb)
		}
		if err != nil {
			err = fmt.Errorf("actuator: %w", err)
		}
	}
	return c, err
}
