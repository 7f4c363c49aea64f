#!/usr/bin/env bash
# Runs a command with the Python and JavaScript guests built
# (scripts/build-language-guests.sh) and BBWS_TEST_LANGUAGE_GUESTS naming
# their directory: the end-to-end tests of guests in other languages run
# only with it set (and fail under CI=true without it).
#
#   scripts/with-language-guests.sh cargo test --workspace
set -euo pipefail
(( $# > 0 )) || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
here=$(dirname "${BASH_SOURCE[0]}")
out=$(realpath -m "$here/../target/language-guests")
"$here/build-language-guests.sh" "$out"
export BBWS_TEST_LANGUAGE_GUESTS=$out
exec "$@"
