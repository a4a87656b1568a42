"""One log line per request, and the counters `/metrics` shows in Prometheus' format.

The log line holds a request id (also sent back as X-Request-ID), the user's id, the
method, the route's template (``/contacts/{contact_id}``, never the values in the path
or the query), the status and the duration: nothing personal.
"""

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from sqlmodel import Session

log = logging.getLogger("crm.request")

# Upper bounds of the latency histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
# Where `crm serve`'s processes keep their figures (prometheus-client's multiprocess
# mode, chosen when it is imported): each writes its own file, a scrape adds them up.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

prometheus_client.disable_created_metrics()  # not kept in multiprocess mode either
# Made once per process: every app in it counts into the same figures.
_REGISTRY = CollectorRegistry()
_REQUESTS = Counter(
    "crm_requests",
    "Requests answered, by route template and status.",
    ["method", "route", "status"],
    registry=_REGISTRY,
)
_DURATION = Histogram(
    "crm_request_duration_seconds",
    "Time to answer, by route template.",
    ["method", "route"],
    buckets=BUCKETS,
    registry=_REGISTRY,
)


class Metrics:
    def __init__(self) -> None:
        # Other figures, read when /metrics is asked: each takes a session, gives lines.
        self.collectors: list[Callable[[Session], list[str]]] = []

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        _REQUESTS.labels(method, route, str(status)).inc()
        _DURATION.labels(method, route).observe(seconds)

    def render(self, session: Session) -> str:
        """Every process's figures, summed, when the server runs several; this one's
        otherwise."""
        registry = _REGISTRY
        if folder := os.environ.get(MULTIPROCESS_DIR):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=folder)
        lines = [generate_latest(registry).decode().rstrip("\n")]
        for collect in self.collectors:
            lines += collect(session)
        return "\n".join(lines) + "\n"


class RequestLog:
    """Pure ASGI middleware: times each request, logs it, counts it."""

    def __init__(self, app: Any, *, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode(errors="ignore")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex[:16]
        started, status = time.perf_counter(), [500]

        async def send_with_id(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            user = (scope.get("state") or {}).get("user")
            self.metrics.observe(scope["method"], route, status[0], seconds)
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "user_id": getattr(user, "id", None),
                        "method": scope["method"],
                        "route": route,
                        "status": status[0],
                        "ms": round(seconds * 1000, 1),
                    }
                )
            )
