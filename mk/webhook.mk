# webhook, actuator and andon ledger: race detector over the concurrent paths
# (group commit, racing resolvers, duplicate notifications, kill -9), and
# the ingest / gate / trigger benchmarks with fixed iteration counts.
WEBHOOK_PKGS := ./andon/... ./actuator ./webhook/...

.PHONY: test-webhook-race bench-webhook
TEST_TARGETS  += test-webhook-race

## test-webhook-race: the concurrent paths of andon/actuator/webhook under the race detector.
test-webhook-race: tools
	$(GO) test -race -count=1 $(WEBHOOK_PKGS)

## bench-webhook (not in BENCH_TARGETS: `make bench` already runs these): fixed iteration counts for
## comparable figures, three runs each (the machine is shared: read ranges, with `cat /proc/loadavg`).
## Ingest: closed loop, maximum throughput; IngestOpenLoop: ack p50/p99/max at 2,000 notifications/s offered;
## IngestBesideHuge (over HTTP) and StoreIngestBesideHuge (the store alone): 1-alert notifications' ack p50/p99
## at 200/s offered, alone and beside back-to-back 12,000-alert notifications.
## Every store figure is measured on SQLite and on PostgreSQL (one replica, and two replicas on one
## database for the webhook ingest benches) in the same run, side by side (see docs/webhook.md).
bench-webhook:
	cat /proc/loadavg
	$(GO) test -run '^$$' -bench 'Ingest$$' -benchtime 4000x -count 3 ./webhook
	$(GO) test -run '^$$' -bench 'IngestOpenLoop' -benchtime 10000x -count 3 ./webhook
	$(GO) test -run '^$$' -bench 'IngestBesideHuge' -benchtime 1000x -count 3 ./webhook
	$(GO) test -run '^$$' -bench 'StoreIngest$$' -benchtime 10000x -count 3 ./andon ./andon/postgres
	$(GO) test -run '^$$' -bench 'StoreIngestBesideHuge' -benchtime 1000x -count 3 ./andon
	$(GO) test -run '^$$' -bench 'ConcurrentTriggers' -benchtime 20x ./andon ./andon/postgres
	$(GO) test -run '^$$' -bench 'Gate' -benchtime 20000x ./andon ./andon/postgres
	cat /proc/loadavg
