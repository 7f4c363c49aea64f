#!/usr/bin/env bash
# Fuzzes the HTTP API from its own document: starts `bbws serve` on a free
# loopback port with a fresh data directory, and runs schemathesis against
# /openapi.json as the platform admin, with the checks a strict client
# relies on (no 5xx, only documented status codes and content types,
# responses that match their schemas, bad input refused, nothing deleted
# still served; scripts/schemathesis/schemathesis.toml). The seed is fixed, so a run is repeatable; set
# BBWS_FUZZ_SEED to explore, BBWS_FUZZ_EXAMPLES for more cases per operation.
#
#   scripts/fuzz-api.sh
#
# schemathesis is installed on first use into a virtualenv (BBWS_FUZZ_VENV,
# default ~/.cache/bbws/schemathesis-venv). Reports go to target/fuzz-api/.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=4.32.5
VENV=${BBWS_FUZZ_VENV:-$HOME/.cache/bbws/schemathesis-venv}
log() { printf '[fuzz-api] %s\n' "$*" >&2; }

if [[ "$("$VENV/bin/schemathesis" --version 2>/dev/null || true)" != *"$VERSION"* ]]; then
  log "installing schemathesis $VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
fi

cargo build --quiet -p bbws-host --bin bbws
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATA=$(mktemp -d -t bbws-fuzz.XXXXXX)
OUT=target/fuzz-api
mkdir -p "$OUT"
TOKEN=fuzz-admin-$RANDOM$RANDOM
BBWS_BOOTSTRAP_TOKEN=$TOKEN target/debug/bbws serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$OUT/server.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/readyz" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$OUT/server.log" >&2; log "bbws exited"; exit 1; }
  sleep 0.1
done

log "schemathesis $VERSION against http://127.0.0.1:$PORT/openapi.json"
# hooks.py teaches schemathesis to send application/wasm (an upload).
SCHEMATHESIS_HOOKS=hooks PYTHONPATH=scripts/schemathesis \
  "$VENV/bin/schemathesis" --config-file scripts/schemathesis/schemathesis.toml \
  run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --seed "${BBWS_FUZZ_SEED:-20261203}" --generation-deterministic \
  --max-examples "${BBWS_FUZZ_EXAMPLES:-30}" --workers 1 \
  --report junit --report-junit-path "$OUT/junit.xml"
