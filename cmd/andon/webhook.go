package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/andon-sre/andon/webhook"
)

// registerWebhook wires 'andon webhook', the Alertmanager receiver.
func registerWebhook(app *kingpin.Application) {
	cmd := app.Command("webhook", "Receive Alertmanager notifications: record them, open andons, drive the actuator; also serves the ledger API under /api/v1. SIGHUP reloads the config.")
	config := cmd.Flag("config", "Webhook config file (YAML; needs bearer_token(_file) or insecure_no_auth; defaults: ./andon.db and a default policy).").Required().String()
	initLedger := cmd.Flag("init", "Create the ledger (db) when its file does not exist yet; without it a missing ledger is an error.").Bool()
	webFlags := kingpinflag.AddFlags(cmd, ":9095")
	cmd.Action(func(*kingpin.ParseContext) error {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return webhook.Run(ctx, webhook.RunOptions{ConfigFile: *config, Init: *initLedger, Web: webFlags, Logger: logger})
	})
}
