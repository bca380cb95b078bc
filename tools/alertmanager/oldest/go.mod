// The oldest Alertmanager release andon supports: the generated snippet must pass its amtool and
// the webhook integration test runs it too (.cache/bin/alertmanager-oldest, amtool-oldest).
module github.com/andon-sre/andon/tools/alertmanager/oldest

go 1.26

require github.com/prometheus/alertmanager v0.31.1
