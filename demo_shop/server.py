"""Serve a WSGI app (normally `DemoShop`) over real HTTP with the standard library.

`serve` runs a threaded `wsgiref` server in the foreground until Ctrl-C and
shuts down quietly; `start_in_thread` runs the same server on a background
thread and hands back its base URL and a stop function, for tests. Request
logging is silenced, and port 0 picks a free port that the URL reports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

WSGIApp = Callable[..., Any]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _make_server(app: WSGIApp, host: str, port: int) -> tuple[WSGIServer, str]:
    server = make_server(host, port, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    return server, f"http://{host}:{server.server_port}"


def serve(
    app: WSGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` until KeyboardInterrupt, calling `ready(url)` once listening."""
    server, url = _make_server(app, host, port)
    try:
        if ready is not None:
            ready(url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def start_in_thread(app: WSGIApp, host: str = "127.0.0.1", port: int = 0) -> tuple[str, Callable[[], None]]:
    """Serve `app` on a daemon thread; return its base URL and a function that stops it."""
    server, url = _make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name=f"demo-server {url}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return url, stop
