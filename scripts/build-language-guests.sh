#!/usr/bin/env bash
# Builds the Python and JavaScript guests into target/language-guests/
# (or $1): the examples an extension author would write, and the hostile
# test programs the end-to-end suite loads.
#
#   scripts/build-language-guests.sh            # then:
#   BBWS_TEST_LANGUAGE_GUESTS=target/language-guests cargo test --workspace
#
# componentize-py is installed on first use into a virtualenv
# (BBWS_LANGUAGE_VENV, default ~/.cache/bbws/componentize-py-venv); jco and
# componentize-js with the machine's Node.js and npm, into
# examples/policy-js/node_modules (`npm ci`, from its package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$(realpath -m "${1:-target/language-guests}")
VENV=${BBWS_LANGUAGE_VENV:-$HOME/.cache/bbws/componentize-py-venv}
COMPONENTIZE_PY_VERSION=0.25.1
log() { printf '[language-guests] %s\n' "$*" >&2; }
mkdir -p "$OUT"

if [[ ! -x $VENV/bin/componentize-py ]] || ! "$VENV/bin/componentize-py" --version | grep -q "$COMPONENTIZE_PY_VERSION"; then
  log "installing componentize-py $COMPONENTIZE_PY_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY_VERSION"
fi
js=examples/policy-js
if [[ ! -x $js/node_modules/.bin/componentize-js || $js/package-lock.json -nt $js/node_modules/.package-lock.json ]]; then
  log "installing jco and componentize-js (npm ci in examples/policy-js)"
  (cd examples/policy-js && npm ci --no-audit --no-fund --loglevel=error)
fi

# python_guest WORLD DIR NAME: componentize-py on DIR/app.py against wit/.
python_guest() {
  local world=$1 dir=$2 name=$3
  log "$name (Python, world $world)"
  (cd "$dir" && "$VENV/bin/componentize-py" --wit-path "$OLDPWD/wit" --world "$world" \
    componentize app --output "$OUT/$name.wasm" >/dev/null)
}
python_guest policy examples/policy-python policy-python
python_guest event-filter examples/event-filter-python event-filter-python
python_guest policy guests/python/infinite-loop python-infinite-loop

log "policy-js (JavaScript, world policy)"
(cd examples/policy-js && npm run --silent build && mv policy.wasm "$OUT/policy-js.wasm")
ls -l "$OUT"/*.wasm >&2
