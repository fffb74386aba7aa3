"""Fairness between clients: a token bucket per client address, and a cap on the queries one
client may have running at once. Both answer 429 with ``Retry-After`` and a message naming
the limit and its setting.

A client is the address of the TCP peer (``REMOTE_ADDR``); an IPv6 client is its /64, the
block one subscriber usually holds, so that it cannot get a fresh bucket per address.
``X-Forwarded-For`` is not trusted: any client can write it, and trusting it would let every
request claim a new address. Behind a reverse proxy every client therefore shares the proxy's
address; limit per client at the proxy. Loopback clients (local scripts, a local proxy, the
tests) are exempt unless NEWSGRAPH_LIMIT_LOOPBACK is set.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from flask import Flask, g, request
from werkzeug.exceptions import TooManyRequests

from server.settings import Settings

#: Routes whose requests run a query (or a write): these count against the per-client cap.
QUERY_ROUTES = frozenset({"/sparql", "/store"})
#: Client buckets kept at most; the least recently seen is forgotten first.
MAX_CLIENTS = 10_000


class RateLimited(TooManyRequests):
    """The client's bucket is empty."""

    limit = "rate"

    def __init__(self, settings: Settings, retry_after: int):
        super().__init__(
            f"Too many requests from your address: the limit is {settings.rate_limit:g} "
            f"requests per second (NEWSGRAPH_RATE_LIMIT), with bursts of up to "
            f"{settings.rate_burst} (NEWSGRAPH_RATE_BURST). Please retry in {retry_after} s; "
            f"for the whole dataset, download the dumps at /dumps/.", retry_after=retry_after)


class TooManyQueries(TooManyRequests):
    """The client already has its share of queries running."""

    limit = "concurrency"

    def __init__(self, settings: Settings):
        super().__init__(
            f"Too many queries at once from your address: at most "
            f"{settings.client_max_queries} may run at the same time per client "
            f"(NEWSGRAPH_CLIENT_MAX_QUERIES). Wait for one to finish, then retry.",
            retry_after=1)


class TokenBuckets:
    """One bucket per client: ``burst`` tokens, refilled at ``rate`` per second; a request
    takes one."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, time

    def take(self, client: str) -> float:
        """0 when a token was taken, else the seconds until the client has one again."""
        now = self.clock()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
            self._buckets[client] = (tokens - 1 if wait == 0 else tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return wait


class RunningQueries:
    """Queries running per client, capped."""

    def __init__(self, cap: int):
        self.cap = cap
        self._lock = threading.Lock()
        self._running: Counter[str] = Counter()

    def acquire(self, client: str) -> bool:
        with self._lock:
            if self._running[client] >= self.cap:
                return False
            self._running[client] += 1
            return True

    def release(self, client: str) -> None:
        with self._lock:
            self._running[client] -= 1
            if self._running[client] <= 0:
                del self._running[client]


def client_key(remote_addr: str | None, limit_loopback: bool) -> str | None:
    """The key a client is limited under, or None when it is exempt (loopback)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return remote_addr or "unknown"  # not an IP (a Unix socket): one shared bucket
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_loopback and not limit_loopback:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def install(app: Flask, settings: Settings) -> None:
    """Check both limits before each request; a query's place is freed when the request's
    handler is done, before its (spooled) result is sent, so a slow reader holds none."""
    buckets = TokenBuckets(settings.rate_limit, settings.rate_burst) \
        if settings.rate_limit > 0 else None
    running = RunningQueries(settings.client_max_queries) \
        if settings.client_max_queries > 0 else None

    @app.before_request
    def limit() -> None:
        client = client_key(request.remote_addr, settings.limit_loopback)
        if client is None:
            return
        if buckets is not None and (wait := buckets.take(client)) > 0:
            raise RateLimited(settings, max(1, math.ceil(wait)))
        if running is not None and request.path in QUERY_ROUTES:
            if not running.acquire(client):
                raise TooManyQueries(settings)
            g.running_query = client

    @app.teardown_request
    def release(exc: BaseException | None) -> None:
        client = g.pop("running_query", None)
        if client is not None and running is not None:
            running.release(client)
