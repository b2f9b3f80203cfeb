"""A tiny ERP web service on loopback (http.server in a thread) serving the plan as paged JSON.

Tests change ``orders`` between passes, make one page answer garbage, require credentials,
and stop and restart the server on the same port to simulate an outage.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def nested_order(
    order_no: str,
    *,
    qty: int = 10,
    status: str = "released",
    wc: str = "PG-10",
    ops: tuple[tuple[str, str], ...] = (("10", "PG-10"), ("20", "PG-20")),
) -> dict[str, Any]:
    """One ERP order as the web service lists it."""
    return {
        "number": order_no,
        "article": f"P-{order_no}",
        "qty": qty,
        "uom": "pcs",
        "status": status,
        "wc": wc,
        "ops": [
            {"id": op, "name": f"op {op}", "wc": centre, "setup": 5, "run": 1} for op, centre in ops
        ],
    }


NESTED_FIELDS: dict[str, Any] = {
    "order_no": "number",
    "part_no": "article",
    "description": None,
    "quantity": "qty",
    "unit": "uom",
    "due_date": None,
    "priority": None,
    "release_state": "status",
    "work_centre": "wc",
    "operations": "ops",
    "op_id": "id",
    "op_name": "name",
    "op_work_centre": "wc",
    "setup_time": "setup",
    "run_time": "run",
}


class ErpHttp:
    """The fake ERP: ``orders`` served ``page_size`` at a time under ``data.orders``."""

    def __init__(self, page_size: int = 2) -> None:
        self.orders: list[Any] = []
        self.page_size = page_size
        self.garbage_pages: set[int] = set()
        self.required_headers: dict[str, str] = {}
        self.requests: list[str] = []
        self.body: Any = None  # when set, served as is (mode A answers)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/orders"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                erp.requests.append(self.path)
                for name, value in erp.required_headers.items():
                    if self.headers.get(name) != value:
                        self._send(401, b'{"error": "unauthorised"}')
                        return
                if erp.body is not None:
                    self._send(200, json.dumps(erp.body).encode())
                    return
                query = parse_qs(urlsplit(self.path).query)
                page = int(query.get("page", ["1"])[0])
                size = int(query.get("size", [str(erp.page_size)])[0])
                if page in erp.garbage_pages:
                    self._send(200, b"<html>maintenance</html>")
                    return
                chunk = erp.orders[(page - 1) * size : page * size]
                self._send(200, json.dumps({"data": {"orders": chunk}}).encode())

            def _send(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def start(self) -> ErpHttp:
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
