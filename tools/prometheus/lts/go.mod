// promtool of Prometheus 2.53 (LTS), the oldest release andon claims for rule files whose latency
// signals use classic histograms: the tests run its `check rules` (.cache/bin/promtool-lts).
// Module v0.53.3 is Prometheus 2.53.3.
module github.com/andon-sre/andon/tools/prometheus/lts

go 1.26

require github.com/prometheus/prometheus v0.53.3
