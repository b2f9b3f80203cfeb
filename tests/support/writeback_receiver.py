"""A real HTTP receiver on loopback that honours Idempotency-Key, for the writeback tests.

It applies each key once, records the order it applied messages in, can refuse the messages
of chosen orders (422), answer 503 to any request carrying a chosen order's message, and can
go down (connection refused) and come back on the same port.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """An ERP web service stand-in: single (/events) and batch (/events/batch) endpoints."""

    def __init__(self, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.applied: dict[str, dict[str, Any]] = {}
        self.sequence: dict[str, list[int]] = defaultdict(list)  # order_no → sequences applied
        self.deliveries = 0
        self.duplicates = 0
        self.requests = 0
        self.refuse_orders: set[str] = set()
        self.fail_status: int | None = None  # answer every request with this (e.g. 503)
        self.fail_orders: set[str] = set()  # answer 503 to a request carrying these orders
        self.failed_for: dict[str, int] = defaultdict(int)  # order_no → 503s answered
        self.out_of_order: list[str] = []
        self.delay = 0.0  # seconds per message applied (a slow ERP)
        # A flaky ERP: this fraction of requests meets a fault, picked at random (seeded) among
        # a 503 before applying, a dropped connection before or after applying (the sender
        # cannot know which), and a slow answer (``slow_seconds``).
        self.flaky = 0.0
        self.slow_seconds = 0.5
        self.faults: dict[str, int] = defaultdict(int)
        self._rng = random.Random(int(os.environ.get("WB_FLAKY_SEED", "11")))
        self.port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()

    # ------------------------------------------------------------------ life cycle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    @property
    def batch_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events/batch"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver._open.add(self.connection)

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()
                with receiver.lock:
                    receiver._open.discard(self.connection)

            def do_GET(self) -> None:
                with receiver.lock:
                    counts = {
                        "applied": len(receiver.applied),
                        "duplicates": receiver.duplicates,
                        "out_of_order": len(receiver.out_of_order),
                    }
                data = json.dumps(counts).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _drop(self) -> None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"null")
                fault = receiver.fault()
                if fault == "drop_before":
                    return self._drop()
                if fault == "error":
                    status, answer = 503, {"error": "flaky: try again"}
                else:
                    status, answer = receiver.handle(self.path, self.headers, body)
                if fault == "drop_after":
                    return self._drop()
                if fault == "slow":
                    time.sleep(receiver.slow_seconds)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a pump killed mid-request

        server = Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Go down: the port refuses connections until :meth:`start` again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            for sock in list(self._open):  # keep-alive connections go down too
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def fault(self) -> str | None:
        """The fault this request meets (None most of the time), counted."""
        with self.lock:
            if not self.flaky or self._rng.random() >= self.flaky:
                return None
            kind = self._rng.choice(("error", "drop_before", "drop_after", "slow"))
            self.faults[kind] += 1
            return kind

    # ------------------------------------------------------------------ applying

    def _apply(self, msg: dict[str, Any]) -> int:
        key = msg["idempotency_key"]
        if self.delay:
            time.sleep(self.delay)
        self.deliveries += 1
        if key in self.applied:
            self.duplicates += 1
            return 200
        if msg["order_no"] in self.refuse_orders:
            return 422
        order, seq = msg["order_no"], int(msg["sequence"])
        if self.sequence[order] and self.sequence[order][-1] >= seq:
            self.out_of_order.append(key)
        self.sequence[order].append(seq)
        self.applied[key] = msg
        return 201

    def handle(self, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests += 1
            if self.fail_status is not None:
                return self.fail_status, {"error": "unavailable"}
            if not headers.get("Idempotency-Key"):
                return 400, {"error": "Idempotency-Key header is required"}
            if self.fail_orders and isinstance(body, dict):
                msgs = body.get("messages", [body])
                bad = sorted({m.get("order_no") for m in msgs} & self.fail_orders)
                if bad:
                    self.failed_for[bad[0]] += 1
                    return 503, {"error": f"order {bad[0]} is being recalculated, try again"}
            if path == "/events":
                status = self._apply(body)
                if status == 422:
                    return 422, {"error": f"order {body['order_no']} is locked in the ERP"}
                return status, {"ok": True}
            if path == "/events/batch":
                results = []
                refused: set[str] = set()
                for msg in body["messages"]:
                    if msg["order_no"] in refused:  # stop applying an order after a refusal
                        results.append({"idempotency_key": msg["idempotency_key"], "status": 424})
                        continue
                    status = self._apply(msg)
                    item: dict[str, Any] = {"idempotency_key": msg["idempotency_key"]}
                    item["status"] = status
                    if status == 422:
                        refused.add(msg["order_no"])
                        item["error"] = f"order {msg['order_no']} is locked in the ERP"
                    results.append(item)
                return 200, {"results": results}
            return 404, {"error": "not found"}


def main() -> None:
    """Serve a receiver on a port until killed (GET / answers the counts)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--flaky", type=float, default=0.0)
    args = parser.parse_args()
    r = Receiver(args.port)
    r.flaky = args.flaky
    r.start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
