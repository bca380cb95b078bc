// The newest Alertmanager release andon is tested against: the e2e, the demo and the webhook
// integration tests run it (.cache/bin/alertmanager, amtool). Bump: change the version below;
// `make tools` records its checksum in go.sum (commit both).
module github.com/andon-sre/andon/tools/alertmanager/newest

go 1.26

require github.com/prometheus/alertmanager v0.35.0
