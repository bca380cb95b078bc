package webhook

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"

	"github.com/andon-sre/andon/actuator"
	"github.com/andon-sre/andon/andon"
	"github.com/andon-sre/andon/andon/stores"
	"github.com/andon-sre/andon/internal/httpjson"
	"github.com/andon-sre/andon/limits"
	"github.com/andon-sre/andon/notify"
)

// Server is the receiver: POST /webhook, the ledger API under /api/v1,
// /metrics, /-/healthy, /-/ready.
type Server struct {
	ledger *andon.Ledger
	engine *actuator.Engine
	cfg    atomic.Pointer[Config]
	reg    *prometheus.Registry
	log    *slog.Logger

	notifications *prometheus.CounterVec
	alerts        map[string]prometheus.Counter // by alert status, resolved once
	unknown       map[bool]prometheus.Counter   // unknown fields, by "in an alert"
	unknownSeen   sync.Map                      // unknown field paths already logged
	unknownLogged atomic.Int32                  // how many: bounded, the names come from outside

	leader    *leadership // with a shared (replicated) store: the actuator lease
	stop      chan struct{}
	bg        sync.WaitGroup // background loops: retention, lease, outbox
	closeOnce sync.Once

	notifier *notify.Notifier // nil without notification endpoints
}

// maxLoggedUnknown bounds how many distinct unknown field names are logged, maxLoggedName how
// much of each: they come from outside.
const (
	maxLoggedUnknown = 64
	maxLoggedName    = 128
)

// New builds the server on store, opened by the caller from cfg.DB (see
// andon/stores); the server closes it. On a store several replicas share
// (PostgreSQL), the actuator acts only while this replica holds the
// actuator lease, on the notifications every replica queued.
func New(cfg *Config, store andon.Store, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SigningKeyFile != "" {
		sg, err := andon.LoadSigner(cfg.SigningKeyFile)
		if err != nil {
			store.Close()
			return nil, err
		}
		store.SetSigner(sg)
	}
	store.SetOntologyBase(cfg.OntologyBase)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		reg:  reg,
		log:  log,
		stop: make(chan struct{}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "andon_webhook_notifications_total", Help: "Webhook notifications received, by HTTP status class of the answer.",
		}, []string{"status"}),
	}
	alerts := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "andon_webhook_alerts_received_total", Help: "Alerts in recorded notifications, by alert status.",
	}, []string{"status"})
	for _, c := range []string{"2xx", "4xx", "5xx"} {
		s.notifications.WithLabelValues(c)
	}
	s.alerts = map[string]prometheus.Counter{"firing": alerts.WithLabelValues("firing"), "resolved": alerts.WithLabelValues("resolved")}
	unknown := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "andon_webhook_unknown_fields_total",
		Help: "Fields of received notifications this receiver does not know and ignored (Alertmanager adds fields across releases), by where: notification or alert.",
	}, []string{"in"})
	s.unknown = map[bool]prometheus.Counter{false: unknown.WithLabelValues("notification"), true: unknown.WithLabelValues("alert")}
	reg.MustRegister(s.notifications, alerts, unknown)
	s.ledger = &andon.Ledger{Store: store, Metrics: andon.NewMetrics(reg, store), ReceiptsDir: cfg.ReceiptsDir, Logger: log}
	if err := s.ledger.CheckSigning(context.Background(), cfg.SigningKeyFile != ""); err != nil {
		store.Close()
		return nil, err
	}
	if cfg.SigningKeyFile == "" {
		log.Warn("receipts are not signed: set signing_key_file (see 'andon keygen') so that whoever can write the database cannot rewrite history")
	}
	if n, err := s.ledger.SyncReceiptFiles(context.Background()); err != nil {
		store.Close()
		return nil, err
	} else if n > 0 {
		log.Warn("wrote receipt files missing from receipts_dir (crash between commit and file write?)", "count", n, "dir", cfg.ReceiptsDir)
	}
	s.cfg.Store(cfg)
	if rs, ok := store.(andon.Replicated); ok {
		s.leader = newLeadership(s, rs, time.Duration(cfg.LeaseTTL))
		s.engine = actuator.NewEngine(cfg.policy, fencedRecorder{recorder{store}, s.leader}, reg, log)
		s.engine.Pause() // until this replica holds the lease
		s.background(s.leader.keep)
		s.background(s.leader.drain)
	} else {
		s.engine = actuator.NewEngine(cfg.policy, recorder{store}, reg, log)
		doc, err := store.State(context.Background(), actuatorState)
		if err != nil {
			store.Close()
			return nil, err
		}
		if err := s.engine.Resume(doc); err != nil {
			log.Warn("actuator state not restored: active actions are rebuilt by Alertmanager's re-sends and expire by their TTL", "err", err)
		}
	}
	s.startNotifier(cfg)
	s.ledger.Stages = cfg.Stages
	s.background(s.retain)
	return s, nil
}

func (s *Server) background(loop func()) {
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		loop()
	}()
}

// retain prunes alert records past alert_retention, at start and hourly.
func (s *Server) retain() {
	for {
		keep := time.Duration(s.cfg.Load().AlertRetention)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		n, err := s.ledger.Store.PruneAlerts(ctx, time.Now().Add(-keep))
		cancel()
		switch {
		case err != nil:
			s.log.Warn("alert records not pruned; next try in an hour", "err", err)
		case n > 0:
			s.log.Info("pruned alert records past alert_retention", "count", n, "alert_retention", model.Duration(keep))
		}
		select {
		case <-s.stop:
			return
		case <-time.After(time.Hour):
		}
	}
}

// ingestTimeout bounds recording a notification: a store that does not
// answer (a database partitioned away) gets a 503 Alertmanager retries,
// not a request hanging until Alertmanager's own timeout.
const ingestTimeout = 10 * time.Second

// actuatorState names the actuator's state document in the store.
const actuatorState = "actuator"

// Reload applies a new config: token, body limit, stage and actuator policy
// change at once; the database and receipts directory need a restart.
func (s *Server) Reload(cfg *Config) {
	old := s.cfg.Load()
	if cfg.DB != old.DB || cfg.ReceiptsDir != old.ReceiptsDir || cfg.SigningKeyFile != old.SigningKeyFile || cfg.LeaseTTL != old.LeaseTTL {
		s.log.Warn("db, receipts_dir, signing_key_file and lease_ttl changes take effect after a restart", "db", stores.Describe(old.DB), "receipts_dir", old.ReceiptsDir, "signing_key_file", old.SigningKeyFile)
		cfg.DB, cfg.ReceiptsDir, cfg.SigningKeyFile, cfg.LeaseTTL = old.DB, old.ReceiptsDir, old.SigningKeyFile, old.LeaseTTL
	}
	s.keepNotifications(old, cfg)
	s.keepStages(old, cfg)
	s.engine.SetPolicy(cfg.policy)
	s.cfg.Store(cfg)
}

// Close waits for running actions (the actuator takes no new ones once
// closed), then closes the store.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.bg.Wait() // a lease holder hands the lease back
		s.engine.Close()
		s.stopNotifier()
		err = s.ledger.Store.Close()
	})
	return err
}

// Ledger exposes the ledger (for tests and embedding).
func (s *Server) Ledger() *andon.Ledger { return s.ledger }

// Handler routes every endpoint.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", s.auth(http.HandlerFunc(s.serveWebhook)))
	mux.Handle("/api/v1/", s.auth(s.ledger.Handler()))
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy.") })
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ledger.Store.Ping(r.Context()); err != nil {
			http.Error(w, "Not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready.")
	})
	return mux
}

// auth requires the bearer token unless the config says insecure_no_auth
// (then Run listens on loopback only). No token and no such setting refuses
// everything: fail closed, never an open door.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cfg := s.cfg.Load(); !cfg.InsecureNoAuth {
			tok := cfg.BearerToken
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || tok == "" || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="andon-webhook"`)
				s.reply(w, r, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token: set http_config.authorization in the Alertmanager receiver"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	if r.URL.Path == "/webhook" {
		s.notifications.WithLabelValues(strconv.Itoa(code/100) + "xx").Inc()
	}
	httpjson.Write(w, code, v)
}

type ack struct {
	Status     string   `json:"status"`
	Alerts     int      `json:"alerts"`
	Duplicates int      `json:"duplicates"`
	Andons     []string `json:"andons"`
}

func (s *Server) serveWebhook(w http.ResponseWriter, r *http.Request) {
	cfg := s.cfg.Load()
	fail := func(code int, format string, args ...any) {
		s.reply(w, r, code, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		fail(http.StatusUnsupportedMediaType, "Content-Type %q: send application/json", r.Header.Get("Content-Type"))
		return
	}
	if r.ContentLength > cfg.MaxBodyBytes {
		fail(http.StatusRequestEntityTooLarge, "body of %d bytes exceeds max_body_bytes %d: lower max_alerts in the receiver or raise the limit", r.ContentLength, cfg.MaxBodyBytes)
		return
	}
	msg, err := Decode(http.MaxBytesReader(w, r.Body, cfg.MaxBodyBytes))
	if msg != nil {
		s.noteUnknown(msg.Unknown)
	}
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, "body exceeds max_body_bytes %d: lower max_alerts in the receiver or raise the limit", cfg.MaxBodyBytes)
			return
		}
		fail(http.StatusBadRequest, "%v", err)
		return
	}
	n := s.notification(msg, cfg)
	ctx, cancel := context.WithTimeout(r.Context(), ingestTimeout)
	defer cancel()
	res, err := s.ledger.Ingest(ctx, n)
	if err != nil {
		if errors.Is(err, andon.ErrInvalid) {
			fail(http.StatusBadRequest, "%v", err)
			return
		}
		s.log.Error("notification not recorded", "group_key", msg.GroupKey, "err", err)
		fail(http.StatusServiceUnavailable, "store unavailable, Alertmanager will retry: %v", err)
		return
	}
	a := ack{Status: "recorded", Alerts: len(msg.Alerts), Andons: []string{}}
	alerts := make([]actuator.Alert, len(msg.Alerts))
	for i, al := range msg.Alerts {
		s.alerts[al.Status].Inc() // Decode admits only firing and resolved
		if res.Duplicate[i] {
			a.Duplicates++
		}
		if id := res.AndonIDs[i]; id != "" && !slices.Contains(a.Andons, id) {
			a.Andons = append(a.Andons, id)
		}
		alerts[i] = actuator.Alert{Key: n.Alerts[i].Key, Name: al.Labels["alertname"], Status: al.Status, Fingerprint: al.Fingerprint,
			StartsAt: al.StartsAt, Labels: al.Labels, Annotations: al.Annotations, AndonID: res.AndonIDs[i]}
	}
	s.reply(w, r, http.StatusOK, a)
	if s.leader != nil {
		return // queued in the same transaction: the lease holder acts on it
	}
	// Actions run after the acknowledgement: an action failure is recorded, never a 5xx.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.engine.Handle(ctx, alerts)
	}()
}

// noteUnknown counts the unknown fields of a notification and logs each
// field name the first time it is seen.
func (s *Server) noteUnknown(paths []string) {
	for _, p := range paths {
		s.unknown[strings.HasPrefix(p, "alerts[].")].Inc()
		if s.unknownLogged.Load() >= maxLoggedUnknown {
			continue
		}
		if _, seen := s.unknownSeen.LoadOrStore(p, true); !seen {
			s.unknownLogged.Add(1)
			if len(p) > maxLoggedName {
				p = strings.ToValidUTF8(p[:maxLoggedName], "") + "…"
			}
			s.log.Warn("ignored a field of the Alertmanager payload this receiver does not know (a newer Alertmanager?)", "field", p)
		}
	}
}

// notification maps a message to what the store records; firing alerts
// whose action label includes "andon" ask for an andon, one per
// (service, alertname, signal) while it is open.
func (s *Server) notification(m *Message, cfg *Config) andon.Notification {
	n := andon.Notification{Receiver: m.Receiver, GroupKey: m.GroupKey, Reason: m.NotificationReason, ReceivedAt: time.Now(), Alerts: make([]andon.AlertEvent, len(m.Alerts))}
	group := groupHash(m.GroupKey)
	for i, a := range m.Alerts {
		ev := andon.AlertEvent{Key: alertKey(group, a), Status: a.Status, Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, EndsAt: a.EndsAt, Labels: a.Labels, Annotations: a.Annotations}
		if a.Status == "firing" && slices.Contains(actuator.ParseActions(a.Labels[limits.LabelAction]), actuator.Andon) {
			ev.Andon = alertAndon(a, cfg.AndonStage)
		}
		n.Alerts[i] = ev
	}
	return n
}

func alertAndon(a Alert, stage string) *andon.Trigger {
	name, svc, signal := a.Labels["alertname"], a.Labels[limits.LabelService], a.Labels[limits.LabelSignal]
	sku, err := andon.NormalizeID("sku", svc)
	if err != nil {
		// Refusing the notification would leave the line running: stop it
		// under the label's escaped, visible spelling instead.
		sku = strings.TrimSpace(andon.Escape(svc))
	}
	if sku == "" {
		sku = name // an alert without a service label still stops something: its own line
	}
	t := andon.Trigger{Type: andon.OperatingLimit, SKU: sku, Stage: stage, Origin: sku + "/" + name + "/" + signal, Details: map[string]any{
		"alertname": name, "signal": signal, "level": a.Labels[limits.LabelLevel], "severity": a.Labels[limits.LabelSeverity],
		"instance": a.Labels["instance"], "fingerprint": a.Fingerprint, "starts_at": a.StartsAt.UTC().Format(time.RFC3339),
		"summary": a.Annotations["summary"],
	}}
	for k, v := range t.Details {
		if v == "" {
			delete(t.Details, k)
		}
	}
	if ft, err := andon.ParseFailureType(a.Annotations[limits.AnnotationAndonType]); err == nil {
		t.Type = ft
	} else if signal == limits.SignalSLO {
		t.Type = andon.SLOBurn
	}
	return &t
}

// recorder stores actuator decisions in the ledger's store.
type recorder struct{ store andon.Store }

func (r recorder) Record(ctx context.Context, ds []actuator.Decision) error {
	recs := make([]andon.ActionRecord, len(ds))
	for i, d := range ds {
		recs[i] = andon.ActionRecord{Time: d.Time, AlertKey: d.AlertKey, Alert: d.Alert, AndonID: d.AndonID, Kind: string(d.Kind),
			Service: d.Service, Target: d.Target, Result: string(d.Result), Reason: d.Reason, Detail: d.Detail}
	}
	return r.store.RecordActions(ctx, recs)
}

// SaveState keeps the actuator's state in the store (actuator.StateStore).
func (r recorder) SaveState(ctx context.Context, doc []byte) error {
	return r.store.PutState(ctx, actuatorState, doc)
}
