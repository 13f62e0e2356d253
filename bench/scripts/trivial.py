#!/usr/bin/env python3
"""The trivial script connector of `script_bench`: accepts every export at once.

It measures its own time per export (from reading the request line to having the answer
ready, `time.perf_counter_ns`) and reports the count and the sum in `test`'s description,
so the benchmark can subtract what the script itself costs.
"""
import json
import sys
import time

SCHEMA = {"objectTypes": [{"name": "User", "anchor": "id", "attributes": [
    {"name": "id", "required": True}, {"name": "userName"}, {"name": "displayName"}]}]}


def main():
    exports, own_ns = 0, 0
    for line in sys.stdin:
        started = time.perf_counter_ns()
        req = json.loads(line)
        op = req["op"]
        if op == "hello":
            result = {"protocol": 1, "capabilities": {}}
        elif op == "schema":
            result = SCHEMA
        elif op == "test":
            result = {"description": "exports=%d own_ns=%d" % (exports, own_ns)}
        elif op == "importPage":
            result = {"items": [], "more": False}
        elif op == "read":
            result = {"object": None}
        else:
            result = {"anchor": req["change"]["anchor"]}
        out = json.dumps({"id": req["id"], "result": result}) + "\n"
        if op == "export":
            exports += 1
            own_ns += time.perf_counter_ns() - started
        sys.stdout.write(out)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
