#!/bin/sh
# Reference script connector in POSIX sh: users in one JSON file, edited with jq.
#
# The protocol loop is here; what each operation does is in connector.jq beside this file
# (one jq program reads the request and the store and prints the answer and, for a write,
# the new store). It speaks protocol version 1 (connectors/script/PROTOCOL.md): one worker
# (not concurrency-safe), full imports paged by offset, exports with conflict / notFound /
# rejected errors, passwords set apart from exports (`passwords: "separate"`, setPassword),
# read by anchor. No delta imports: the host runs full imports.
#
# Configuration parameters: `store`, the JSON file (relative to the working directory;
# created if missing). Needs jq (Debian: apt-get install jq).
#
# Requests and the store hold passwords: they go through pipes and shell variables only,
# never on a command line (which `ps` shows) and never to standard error.
set -u

if ! command -v jq >/dev/null 2>&1; then
    echo "error: jq is not installed (Debian: apt-get install jq)" >&2
    exit 1
fi
HERE=$(cd "$(dirname "$0")" && pwd)
STORE=""

while IFS= read -r line; do
    [ -n "$line" ] || continue
    id=$(printf '%s\n' "$line" | jq '.id')
    op=$(printf '%s\n' "$line" | jq -r '.op')
    if [ "$op" = hello ]; then
        STORE=$(printf '%s\n' "$line" | jq -r '.config.parameters.store // "users.json"')
        printf '{"id":%s,"result":{"protocol":1,"capabilities":{"passwords":"separate"}}}\n' "$id"
        continue
    fi
    # Create the store lazily: hello must not touch the target.
    [ -f "$STORE" ] || printf '{"objects":{},"passwords":{}}\n' >"$STORE"
    if ! out=$(printf '%s\n' "$line" | jq -c --slurpfile store "$STORE" -f "$HERE/connector.jq"); then
        echo "error: connector.jq failed during $op" >&2
        printf '{"id":%s,"error":{"kind":"rejected","name":"jq-failed","detail":"the connector failed; see its log"}}\n' "$id"
        continue
    fi
    new=$(printf '%s\n' "$out" | jq -c '.store // empty')
    if [ -n "$new" ]; then
        # Replace the file in one step, so a crash leaves the old or the new store.
        printf '%s\n' "$new" >"$STORE.tmp" && mv "$STORE.tmp" "$STORE"
    fi
    printf '%s\n' "$out" | jq -c '.answer'
done
