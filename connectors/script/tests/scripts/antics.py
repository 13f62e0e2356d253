#!/usr/bin/env python3
"""A protocol-v1 script that misbehaves on request, for the worker tests.

An add's `mode` attribute says what to do: ok, hang, crash, garbage, huge, flood, error,
named-error, pending, wrong-id, slow, leak (prints the password to stderr). Objects live in
memory only; updates are refused, replaces accepted. `test` describes the worker: its pid, working directory and environment names.
"""
import json
import os
import subprocess
import sys
import time

PARAMS = {}
OBJECTS = {}


def answer(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def add(req):
    change = req["change"]
    attrs = change["attributes"]
    mode = (attrs.get("mode") or ["ok"])[0]
    rid = req["id"]
    if mode == "hang":
        pids = [subprocess.Popen(["sleep", "1000"]).pid for _ in range(2)]
        with open(PARAMS["pidfile"], "w") as f:
            f.write(" ".join(str(p) for p in [os.getpid()] + pids))
        time.sleep(1000)
    if mode == "crash":
        sys.stderr.write("error: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if mode == "garbage":
        print("Traceback (most recent call last): this is not JSON", flush=True)
        time.sleep(5)
        return
    if mode == "huge":
        answer({"id": rid, "result": {"detail": "x" * 100000}})
        return
    if mode == "flood":
        for _ in range(20000):
            sys.stderr.write("y" * 100 + "\n")
        sys.stderr.flush()
        time.sleep(5)
        return
    if mode == "error":
        answer({"id": rid, "error": {"name": "password-policy-violation",
                                      "detail": "the password is too short"}})
        return
    if mode == "named-error":
        answer({"id": rid, "error": {"name": "object-already-exists"}})
        return
    if mode == "wrong-id":
        answer({"id": rid + 100, "result": {}})
        return
    if mode == "leak":
        pw = (attrs.get("pw") or [""])[0]
        sys.stderr.write("debug: setting password %s for %s\n" % (pw, change["anchor"]))
        sys.stderr.flush()
        answer({"id": rid, "error": {"name": "rejected", "detail": "refused %s" % pw}})
        return
    if mode == "slow":
        time.sleep(1)
    if change["anchor"] in OBJECTS:
        answer({"id": rid, "error": {"kind": "conflict", "name": "exists"}})
        return
    OBJECTS[change["anchor"]] = {k: v for k, v in attrs.items() if k != "pw"}
    if mode == "pending":
        del OBJECTS[change["anchor"]]
        answer({"id": rid, "result": {"status": "pending", "detail": "approval 7"}})
        return
    answer({"id": rid, "result": {"anchor": change["anchor"]}})


def main():
    for line in sys.stdin:
        req = json.loads(line)
        op, rid = req["op"], req["id"]
        if op == "hello":
            PARAMS.update(req["config"]["parameters"])
            secrets = req["config"]["secrets"]
            if "expect" in PARAMS and secrets.get("token") != PARAMS["expect"]:
                answer({"id": rid, "error": {"kind": "misconfigured", "name": "bad-token"}})
                continue
            if PARAMS.get("protocol"):
                answer({"id": rid, "result": {"protocol": int(PARAMS["protocol"])}})
                continue
            caps = {"concurrencySafe": PARAMS.get("concurrent") == "true",
                    "exportStyle": PARAMS.get("style", "attributeUpdate")}
            answer({"id": rid, "result": {"protocol": 1, "capabilities": caps}})
        elif op == "schema":
            answer({"id": rid, "result": {"objectTypes": [{"name": "User", "anchor": "id",
                "attributes": [{"name": "id", "required": True}, {"name": "mode"},
                               {"name": "name"}, {"name": "pw", "type": "secret"}]}]}})
        elif op == "test":
            desc = "pid=%d cwd=%s env=%s deadline=%d" % (
                os.getpid(), os.getcwd(), ",".join(sorted(os.environ)), req["deadlineMs"])
            answer({"id": rid, "result": {"description": desc}})
        elif op == "export":
            change = req["change"]
            if change["kind"] == "add":
                add(req)
            elif change["kind"] == "replace" and change["anchor"] in OBJECTS:
                OBJECTS[change["anchor"]] = change["attributes"]
                answer({"id": rid, "result": {}})
            else:
                answer({"id": rid, "error": {"kind": "rejected", "detail": "adds only"}})
        elif op == "read":
            obj = OBJECTS.get(req["anchor"])
            answer({"id": rid, "result": {"object": None if obj is None else
                    {"anchor": req["anchor"], "attributes": obj}}})
        elif op == "importPage":
            items = [{"anchor": a, "attributes": o} for a, o in sorted(OBJECTS.items())]
            answer({"id": rid, "result": {"items": items, "more": False}})
        else:
            answer({"id": rid, "error": {"kind": "rejected", "detail": "unknown op " + op}})


main()
