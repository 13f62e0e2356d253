#!/bin/sh
# Answers hello, then on any other request starts two `sleep 1000` children, writes the
# pids (its own first) to the file named by $1, and hangs in a third sleep.
while IFS= read -r line; do
    id=$(printf '%s\n' "$line" | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
    case "$line" in
    *'"op":"hello"'*) printf '{"id":%s,"result":{"protocol":1}}\n' "$id" ;;
    *)
        sleep 1000 &
        a=$!
        sleep 1000 &
        b=$!
        echo "$$ $a $b" >"$1"
        sleep 1000
        ;;
    esac
done
