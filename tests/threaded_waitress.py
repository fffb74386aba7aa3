"""A WSGI app served by waitress from a thread of the test process, and stopped cleanly.

waitress wakes its loop by writing b"x" to a trigger pipe from its task threads. Closing a
server (``server.close()``) while a task still runs lets that thread write to the closed
descriptor number, which another server's socket may have reused by then: that client then
reads ``xHTTP/1.1 200 OK`` (seen as a BadStatusLine, now and then, in a suite that starts and
stops many servers). :func:`stop` lets the tasks finish first, then closes the connections,
the listening socket and the trigger, in that order.
"""

from __future__ import annotations

import threading

from waitress.server import create_server


def serve_in_thread(app, threads: int = 4):
    """Start ``app`` on a free loopback port; returns the server (``effective_port``)."""
    server = create_server(app, host="127.0.0.1", port=0, threads=threads)
    threading.Thread(target=server.run, daemon=True).start()
    return server


def stop(server) -> None:
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)
    for channel in list(server._map.values()):
        if channel is not server and channel is not server.trigger:
            channel.close()
    server.close()
