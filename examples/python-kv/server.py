#!/usr/bin/env python3
"""python-kv: a minimal key-value server speaking faultline's refkv protocol,
version 1 (docs/refkv-api.md), in one file of Python 3 standard library.

It is not a consensus system. The first node of --peers is the *primary*:
it alone holds the data (in memory, every change appended to DATA_DIR/log.jsonl
and fsynced before it is acknowledged, replayed on start) and applies
requests one at a time under a lock, so it is linearizable. Every other node
forwards each request to the primary and relays the answer. When the
primary is down, paused or cut off, the system is unavailable; it never
answers wrongly.

Usage:
  server.py --id NAME --peers NAME=HOST:CPORT/HOST:PPORT,... --data-dir DIR

(--peers is faultline's {peers} placeholder; the peer ports are unused.)
"""

import argparse
import http.client
import json
import os
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FORWARD_TIMEOUT = 4.0  # seconds; below faultline's 5.5 s client timeout
FORWARDED = "x-refkv-forwarded"


class Error(Exception):
    """A protocol error answer: status, message, definite."""

    def __init__(self, status, message, definite):
        super().__init__(message)
        self.status, self.message, self.definite = status, message, definite


class Store:
    """The primary's data: a dict, with an fsynced append-only log."""

    def __init__(self, data_dir):
        os.makedirs(data_dir, exist_ok=True)
        self.path = os.path.join(data_dir, "log.jsonl")
        self.data = {}
        self.lock = threading.Lock()
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                for line in f:
                    try:
                        self.data.update(json.loads(line))
                    except ValueError:
                        break  # a torn last line, never acknowledged
        self.log = open(self.path, "ab")

    def _commit(self, changes):
        """Make `changes` durable, then apply them. Call under the lock."""
        self.log.write(json.dumps(changes).encode() + b"\n")
        self.log.flush()
        os.fsync(self.log.fileno())
        self.data.update(changes)

    def read(self, key):
        with self.lock:
            return self.data.get(key)

    def write(self, key, value):
        with self.lock:
            self._commit({key: value})

    def cas(self, key, old, new):
        with self.lock:
            current = self.data.get(key)
            if current != old:
                return False, current
            self._commit({key: new})
            return True, new

    def txn(self, ops):
        with self.lock:
            view, out = {}, []
            for op in ops:
                if not (isinstance(op, list) and len(op) == 3 and isinstance(op[1], str)):
                    raise Error(400, "a micro-op is [f, key, value]", True)
                f, k, v = op
                cur = view[k] if k in view else self.data.get(k)
                if f == "r":
                    out.append(["r", k, cur])
                elif f == "w":
                    view[k] = v
                    out.append(op)
                elif f == "append":
                    if cur is None:
                        cur = []
                    if not isinstance(cur, list):
                        raise Error(400, "append to a non-list at %r" % k, True)
                    view[k] = cur + [v]
                    out.append(op)
                else:
                    raise Error(400, "unknown micro-op %r" % f, True)
            if view:
                self._commit(view)
            return out


class Node:
    def __init__(self, me, peers, data_dir):
        self.me = me
        self.peers = peers  # [(name, host, client_port)]
        self.primary = peers[0]
        self.store = Store(data_dir) if me == self.primary[0] else None

    def status(self):
        return {
            "id": self.me,
            "role": "leader" if self.store else "follower",
            "term": 1,
            "leader": self.primary[0],
        }

    def forward(self, method, path, body, is_read):
        """Relay a request to the primary: (status, body bytes)."""
        _, host, port = self.primary
        conn = http.client.HTTPConnection(host, port, timeout=FORWARD_TIMEOUT)
        try:
            conn.connect()
        except OSError as e:
            # Nothing was sent: the request certainly did not take effect.
            raise Error(503, "cannot reach primary %s: %s" % (self.primary[0], e), True)
        try:
            headers = {"content-type": "application/json", FORWARDED: self.me}
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as e:
            # Sent, but no answer: a write may have taken effect.
            raise Error(504, "primary %s did not answer: %s" % (self.primary[0], e), is_read)
        finally:
            conn.close()


def make_handler(node):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def answer(self, status, body):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def fail(self, e):
            self.answer(e.status, {"error": e.message, "definite": e.definite,
                                   "leader": node.primary[0]})

        def handle_any(self, method):
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            parts = self.path.split("?")[0].split("/")[1:]
            is_read = method == "GET"
            try:
                if parts == ["status"] and method == "GET":
                    return self.answer(200, node.status())
                route = self.route(method, parts)
                if route is None:
                    return self.answer(404, {"error": "unknown endpoint", "definite": True,
                                             "leader": None})
                kind, key = route
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    raise Error(400, "malformed JSON body", True)
                if kind == "txn":
                    ops = body.get("ops") if isinstance(body, dict) else None
                    if not isinstance(ops, list):
                        raise Error(400, "expected {\"ops\": [...]}", True)
                    is_read = all(isinstance(o, list) and o[:1] == ["r"] for o in ops)
                if node.store is None:
                    if self.headers.get(FORWARDED):
                        raise Error(503, "forwarded request reached a non-primary", True)
                    status, data = node.forward(method, self.path, raw, is_read)
                    return self.answer(status, data)
                return self.answer(200, self.apply(kind, key, body))
            except Error as e:
                if is_read:
                    e.definite = True  # reads never take effect
                self.fail(e)

        def route(self, method, parts):
            if len(parts) == 2 and parts[0] in ("kv", "cas"):
                try:
                    key = urllib.parse.unquote(parts[1], errors="strict")
                except UnicodeDecodeError:
                    raise Error(400, "key is not UTF-8", True)
                if parts[0] == "kv" and method in ("GET", "PUT"):
                    return ("read" if method == "GET" else "write"), key
                if parts[0] == "cas" and method == "POST":
                    return "cas", key
            if parts == ["txn"] and method == "POST":
                return "txn", None
            return None

        def apply(self, kind, key, body):
            store = node.store
            if kind == "read":
                return {"value": store.read(key)}
            if not isinstance(body, dict):
                raise Error(400, "expected a JSON object", True)
            if kind == "write":
                if "value" not in body:
                    raise Error(400, "expected {\"value\": V}", True)
                store.write(key, body["value"])
                return {}
            if kind == "cas":
                if "from" not in body or "to" not in body:
                    raise Error(400, "expected {\"from\": A, \"to\": B}", True)
                ok, current = store.cas(key, body["from"], body["to"])
                return {"ok": True} if ok else {"ok": False, "value": current}
            return {"ops": store.txn(body["ops"])}

        def do_GET(self):
            self.handle_any("GET")

        def do_PUT(self):
            self.handle_any("PUT")

        def do_POST(self):
            self.handle_any("POST")

    return Handler


def parse_peers(text):
    peers = []
    for item in text.split(","):
        name, _, addrs = item.partition("=")
        client = addrs.split("/")[0]
        host, _, port = client.rpartition(":")
        if not name or not host or not port.isdigit():
            sys.exit("server.py: bad --peers entry %r (NAME=HOST:PORT/HOST:PORT)" % item)
        peers.append((name, host, int(port)))
    return peers


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--id", required=True)
    p.add_argument("--peers", required=True)
    p.add_argument("--data-dir", required=True)
    a = p.parse_args()
    peers = parse_peers(a.peers)
    mine = [x for x in peers if x[0] == a.id]
    if not mine:
        sys.exit("server.py: --id %s is not in --peers" % a.id)
    node = Node(a.id, peers, a.data_dir)
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((mine[0][1], mine[0][2]), make_handler(node))
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    print("python-kv %s listening on %s:%d (primary %s)"
          % (a.id, mine[0][1], mine[0][2], node.primary[0]), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
