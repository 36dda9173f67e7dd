"""Real HTTP servers on 127.0.0.1 for tests: started in a thread, stopped when the block ends."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def bytes_handler(
    content: Mapping[str, bytes], default: bytes | None = None, requests: Counter[str] | None = None
) -> type[BaseHTTPRequestHandler]:
    """GET answers `content[path]`, else `default`, else 404; each path requested is counted in
    `requests`. Nothing is logged."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if requests is not None:
                requests[self.path] += 1
            body = content.get(self.path, default)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serving(handler: Callable[..., Any]) -> Iterator[str]:
    """`handler` served on a free port of 127.0.0.1; yields the server's base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
