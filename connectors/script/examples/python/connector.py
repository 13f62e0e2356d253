#!/usr/bin/env python3
"""Reference script connector in Python 3: users in a SQLite file (stdlib `sqlite3` only).

A template for a real connector: copy it, keep the protocol loop (`main`, `handle`), and
replace the SQL with calls to your target. It speaks protocol version 1
(connectors/script/PROTOCOL.md) and shows every part of it:

- hello: capabilities (delta imports, concurrency-safe, references by anchor, inline passwords);
- schema: one object type `User` with string, integer, boolean, date-time, multi-valued,
  reference and secret attributes;
- paged full imports (keyset on the anchor) and delta imports from a change log, with
  watermarks;
- exports with conflict / notFound / rejected errors, each one transaction;
- accepted-pending adds: a user with `needsApproval = true` is queued in `approvals` and not
  created (an approver would create it later; the next import shows it);
- read by anchor.

Configuration parameters (`[connector.script.parameters]`): `database`, the SQLite file
(relative to the working directory; created if missing).

Passwords are stored in clear text so the tests can read them back: a real connector hands
them to the target's password API, or stores a hash. Never print them, nor a request.
"""
import json
import os
import sqlite3
import sys

PROTOCOL = 1
COLUMNS = {  # single-valued attribute -> schema type
    "id": "string",
    "userName": "string",
    "displayName": "string",
    "department": "string",
    "manager": "reference",
    "employeeNumber": "integer",
    "active": "boolean",
    "hireDate": "dateTime",
}
SCHEMA = {"objectTypes": [{
    "name": "User",
    "anchor": "id",
    "attributes": [{"name": n, "type": t, "required": n == "id",
                    **({"references": "User"} if t == "reference" else {})}
                   for n, t in COLUMNS.items()] + [
        {"name": "mail", "type": "string", "multiValued": True},
        {"name": "password", "type": "secret"},
        {"name": "needsApproval", "type": "boolean", "direction": "export"},
    ],
}]}
DDL = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, userName TEXT, displayName TEXT, department TEXT, manager TEXT,
    employeeNumber INTEGER, active INTEGER, hireDate TEXT, password TEXT);
CREATE TABLE IF NOT EXISTS user_mail (
    id TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (id, value));
CREATE TABLE IF NOT EXISTS changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (
    request INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, attributes TEXT NOT NULL);
"""


class Failure(Exception):
    """An error answer: kind, name and detail (PROTOCOL.md, "Errors")."""

    def __init__(self, kind, name, detail):
        super().__init__(detail)
        self.kind, self.name, self.detail = kind, name, detail


class Store:
    def __init__(self, params):
        self.path = params.get("database", "users.db")
        self.db = None

    def conn(self, deadline_ms):
        # Connect lazily: hello must not touch the target.
        if self.db is None:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.executescript(DDL)
        # Wait for a lock at most until shortly before the host's deadline.
        self.db.execute("PRAGMA busy_timeout = %d" % max(0, min(deadline_ms - 500, 10000)))
        return self.db

    # ----------------------------------------------------------------- reading --

    def load(self, db, anchor):
        row = db.execute("SELECT %s FROM users WHERE id = ?" % ", ".join(COLUMNS),
                         (anchor,)).fetchone()
        if row is None:
            return None
        attrs = {}
        for (name, kind), value in zip(COLUMNS.items(), row):
            if value is None:
                continue
            attrs[name] = bool(value) if kind == "boolean" else value
        mail = [r[0] for r in db.execute(
            "SELECT value FROM user_mail WHERE id = ? ORDER BY value", (anchor,))]
        if mail:
            attrs["mail"] = mail
        return {"objectType": "User", "anchor": anchor, "attributes": attrs}

    def watermark(self, db):
        return str(db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

    def import_page(self, db, req):
        size, token = req["pageSize"], req.get("pageToken")
        if req["mode"] == "full":
            result = {}
            if token is None:
                # Taken before reading: what changes meanwhile is read again by the next delta.
                result["watermark"] = self.watermark(db)
            ids = [r[0] for r in db.execute(
                "SELECT id FROM users WHERE id > ? ORDER BY id LIMIT ?", (token or "", size + 1))]
            page = ids[:size]
            result.update(items=[self.load(db, a) for a in page], more=len(ids) > size)
            if result["more"]:
                result["pageToken"] = page[-1]
            return result
        # Delta: the last change per anchor in (since, upper], upper fixed on the first page.
        since = int(req.get("watermark") or 0)
        upper, after = (map(int, token.split(":")) if token
                        else (int(self.watermark(db)), since))
        rows = db.execute(
            "SELECT id, MAX(seq) AS s FROM changes WHERE seq > ? AND seq <= ? GROUP BY id "
            "HAVING s > ? ORDER BY s LIMIT ?", (since, upper, after, size + 1)).fetchall()
        page = rows[:size]
        items = []
        for anchor, _ in page:
            obj = self.load(db, anchor)
            items.append(obj or {"change": "delete", "objectType": "User", "anchor": anchor})
        more = len(rows) > size
        result = {"items": items, "more": more}
        if more:
            result["pageToken"] = "%d:%d" % (upper, page[-1][1])
        else:
            result["watermark"] = str(upper)
        return result

    # ----------------------------------------------------------------- writing --

    def exists(self, db, anchor):
        return db.execute("SELECT 1 FROM users WHERE id = ?", (anchor,)).fetchone() is not None

    def write_columns(self, db, anchor, attrs, clear_missing):
        for name, kind in COLUMNS.items():
            if name == "id" or (name not in attrs and not clear_missing):
                continue
            values = attrs.get(name) or []
            value = values[0] if values else None
            if kind == "boolean" and value is not None:
                value = 1 if value else 0
            if kind == "reference" and value is not None and not self.exists(db, value):
                raise Failure("rejected", "missing-reference",
                              "%s %s does not exist" % (name, value))
            db.execute("UPDATE users SET %s = ? WHERE id = ?" % name, (value, anchor))
        if "password" in attrs:
            db.execute("UPDATE users SET password = ? WHERE id = ?",
                       ((attrs["password"] or [None])[0], anchor))
        if "mail" in attrs or clear_missing:
            db.execute("DELETE FROM user_mail WHERE id = ?", (anchor,))
            db.executemany("INSERT INTO user_mail (id, value) VALUES (?, ?)",
                           [(anchor, m) for m in attrs.get("mail") or []])

    def export(self, db, change):
        kind, anchor = change["kind"], change["anchor"]
        if kind == "add":
            attrs = change["attributes"]
            if self.exists(db, anchor):
                raise Failure("conflict", "object-already-exists", "user %s exists" % anchor)
            if (attrs.get("needsApproval") or [False])[0]:
                queued = {k: v for k, v in attrs.items() if k != "password"}
                cur = db.execute("INSERT INTO approvals (id, attributes) VALUES (?, ?)",
                                 (anchor, json.dumps(queued)))
                return {"status": "pending", "anchor": anchor,
                        "detail": "approval request %d" % cur.lastrowid}
            db.execute("INSERT INTO users (id) VALUES (?)", (anchor,))
            self.write_columns(db, anchor, attrs, clear_missing=True)
        else:
            if not self.exists(db, anchor):
                raise Failure("notFound", "no-such-object", "user %s does not exist" % anchor)
            if kind == "delete":
                db.execute("DELETE FROM users WHERE id = ?", (anchor,))
                db.execute("DELETE FROM user_mail WHERE id = ?", (anchor,))
            elif kind == "replace":
                self.write_columns(db, anchor, change["attributes"], clear_missing=True)
            elif kind == "update":
                if change.get("newDn"):
                    raise Failure("rejected", "rename-unsupported", "users have no DN")
                self.update(db, anchor, change["changes"])
        db.execute("INSERT INTO changes (id, op) VALUES (?, ?)", (anchor, kind))
        return {"anchor": anchor}

    def update(self, db, anchor, changes):
        for c in changes:
            op, name, values = c["op"], c["name"], c.get("values") or []
            if name == "mail":
                if op in ("replace", "clear"):
                    db.execute("DELETE FROM user_mail WHERE id = ?", (anchor,))
                if op in ("replace", "add"):
                    db.executemany("INSERT OR IGNORE INTO user_mail (id, value) VALUES (?, ?)",
                                   [(anchor, v) for v in values])
                if op == "remove":
                    db.executemany("DELETE FROM user_mail WHERE id = ? AND value = ?",
                                   [(anchor, v) for v in values])
            elif name == "needsApproval":
                continue
            else:
                self.write_columns(db, anchor, {name: values if op != "clear" else []}, False)


def handle(store, req):
    op = req["op"]
    if op == "schema":
        return SCHEMA
    db = store.conn(req["deadlineMs"])
    if op == "test":
        count = db.execute("SELECT COUNT(*) FROM users").fetchone()[0]
        return {"description": "SQLite %s at %s, %d users"
                % (sqlite3.sqlite_version, os.path.abspath(store.path), count)}
    if op == "read":
        return {"object": store.load(db, req["anchor"])}
    if op == "importPage":
        db.execute("BEGIN")  # one consistent snapshot per page
        try:
            return store.import_page(db, req)
        finally:
            db.execute("COMMIT")
    if op == "export":
        db.execute("BEGIN IMMEDIATE")
        try:
            result = store.export(db, req["change"])
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result
    raise Failure("misconfigured", "unknown-operation", "operation %s is not supported" % op)


def answer(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main():
    store = None
    for line in sys.stdin:  # ends when the host closes stdin: then exit
        if not line.strip():
            continue
        req = json.loads(line)
        rid = req["id"]
        try:
            if req["op"] == "hello":
                store = Store(req["config"]["parameters"])
                answer({"id": rid, "result": {"protocol": PROTOCOL, "capabilities": {
                    "deltaImport": True, "concurrencySafe": True,
                    "referenceForm": "anchor", "passwords": "inline"}}})
                continue
            answer({"id": rid, "result": handle(store, req)})
        except Failure as f:
            answer({"id": rid, "error": {"kind": f.kind, "name": f.name, "detail": f.detail}})
        except sqlite3.IntegrityError as e:
            answer({"id": rid, "error": {"kind": "conflict", "name": "constraint",
                                         "detail": str(e)}})
        except sqlite3.OperationalError as e:
            kind = "unavailable" if "locked" in str(e) or "busy" in str(e) else "misconfigured"
            answer({"id": rid, "error": {"kind": kind, "name": "sqlite", "detail": str(e)}})
        except Exception as e:  # a bug: say which, never what the request held
            sys.stderr.write("error: %s during %s\n" % (type(e).__name__, req.get("op")))
            sys.stderr.flush()
            answer({"id": rid, "error": {"kind": "rejected", "name": type(e).__name__,
                                         "detail": "the connector failed; see its log"}})


if __name__ == "__main__":
    main()
