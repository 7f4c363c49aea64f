#!/usr/bin/env bash
# Runs a command with a moto server (DynamoDB, S3, SQS, ECS, RDS, EFS, in one process) on a
# free loopback port, and BBWS_TEST_AWS_ENDPOINT pointing at it, then stops
# the server. The DynamoDB and S3 tests run only with that variable set.
#
#   scripts/with-moto.sh cargo test --workspace
#
# moto is installed on first use into a virtualenv (BBWS_MOTO_VENV, default
# ~/.cache/bbws/moto-venv): `python3 -m venv` and `pip install 'moto[server]'`.
set -euo pipefail

(( $# > 0 )) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
VENV=${BBWS_MOTO_VENV:-$HOME/.cache/bbws/moto-venv}
log() { printf '[moto] %s\n' "$*" >&2; }

if [[ ! -x $VENV/bin/moto_server ]]; then
  log "installing moto[server] into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'moto[server]'
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
LOG=$(mktemp -t bbws-moto.XXXXXX.log)
# moto's own server, one request at a time (see scripts/moto_serialized.py).
# An ECS service moto creates starts MOTO_ECS_SERVICE_RUNNING tasks at once
# and marks its deployment COMPLETED when that covers its desiredCount (else
# it stays IN_PROGRESS for ever); 2 is an instance's default count.
MOTO_ECS_SERVICE_RUNNING=${MOTO_ECS_SERVICE_RUNNING:-2} "$VENV/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_serialized.py" 127.0.0.1 "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!
trap 'kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" 2>/dev/null; then
    break
  fi
  kill -0 "$MOTO_PID" 2>/dev/null || { cat "$LOG" >&2; log "the moto server exited"; exit 1; }
  sleep 0.1
done
curl -fsS -o /dev/null "http://127.0.0.1:$PORT/moto-api/" || { cat "$LOG" >&2; log "the moto server did not answer"; exit 1; }
log "moto $("$VENV/bin/python" -c 'import moto; print(moto.__version__)') on http://127.0.0.1:$PORT (log: $LOG)"

export BBWS_TEST_AWS_ENDPOINT="http://127.0.0.1:$PORT"
"$@"
