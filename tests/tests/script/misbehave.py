#!/usr/bin/env python3
"""Test-only variant of the Python reference connector that misbehaves on request.

It loads the reference connector (connectors/script/examples/python/connector.py, its path
the first argument) and serves exactly as it does, except for an export whose values hold
`misbehave:<how>` (any attribute; the e2e tests use the department):

- `error`: a PSMA-style named error, `[ErrorName]` and `[ErrorDetail]` without a kind;
- `hang`: waits for a child `sleep 1000`, after writing its own pid and the child's to
  `hung.pid` in the working directory (both die with the worker's process group at the
  deadline);
- `crash`: exits in the middle of the export, before writing anything;
- `exit-after`: performs the export, answers it, then exits (the next call needs a new worker);
- `garbage`: prints a line that is not the protocol, then waits to be killed;
- `oversized`: answers with a line longer than any sane `max_message_size`, then waits.

Nothing reaches the store in any case but `exit-after`.
"""
import importlib.util
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ beside the reference connector
spec = importlib.util.spec_from_file_location("reference_connector", sys.argv[1])
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

PREFIX = "misbehave:"
reference_handle = ref.handle
reference_answer = ref.answer
exit_after_answer = False


def wanted(change):
    values = []
    for v in (change.get("attributes") or {}).values():
        values.extend(v if isinstance(v, list) else [v])
    for c in change.get("changes") or []:
        values.extend(c.get("values") or [])
    for v in values:
        if isinstance(v, str) and v.startswith(PREFIX):
            return v[len(PREFIX):]
    return None


def handle(store, req):
    global exit_after_answer
    how = wanted(req["change"]) if req["op"] == "export" else None
    if how == "error":
        raise ref.Failure(None, "DepartmentClosed",
                          "department Quarantine takes no new users (ticket CHG-1234)")
    if how == "hang":
        child = subprocess.Popen(["sleep", "1000"])
        with open("hung.pid", "w") as f:
            f.write("%d %d" % (os.getpid(), child.pid))
        child.wait()
    if how == "crash":
        sys.stderr.write("error: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if how == "garbage":
        sys.stdout.write("Exporting user... done!\n")
        sys.stdout.flush()
        time.sleep(1000)
    if how == "oversized":
        sys.stdout.write('{"id": %d, "result": {"detail": "%s"}}\n' % (req["id"], "x" * 200000))
        sys.stdout.flush()
        time.sleep(1000)
    if how == "exit-after":
        exit_after_answer = True
    return reference_handle(store, req)


def answer(message):
    reference_answer(message)
    if exit_after_answer:
        sys.stderr.write("warn: exiting after an answer, on purpose\n")
        sys.stderr.flush()
        os._exit(0)


ref.handle = handle
ref.answer = answer

if __name__ == "__main__":
    ref.main()
