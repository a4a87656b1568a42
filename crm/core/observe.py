"""One log line per request, and the counters `/metrics` shows in Prometheus' format.

The log line holds a request id (also sent back as X-Request-ID), the user's id, the
method, the route's template (``/contacts/{contact_id}``, never the values in the path
or the query), the status and the duration: nothing personal. Counters are per process.
"""

import json
import logging
import re
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

log = logging.getLogger("crm.request")

# Upper bounds of the latency histogram, in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class Metrics:
    def __init__(self) -> None:
        # Other figures, read when /metrics is asked: each takes a session, gives lines.
        self.collectors: list[Callable[[Session], list[str]]] = []
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency: dict[tuple[str, str], list[float]] = defaultdict(
            lambda: [0.0] * (len(BUCKETS) + 2)  # buckets, +Inf, sum
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self.latency[(method, route)]
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[index] += 1
            counts[len(BUCKETS)] += 1
            counts[-1] += seconds

    def render(self, session: Session) -> str:
        lines = self.lines()
        for collect in self.collectors:
            lines += collect(session)
        return "\n".join(lines) + "\n"

    def lines(self) -> list[str]:
        with self._lock:
            out = [
                "# HELP crm_requests_total Requests answered, by route template and status.",
                "# TYPE crm_requests_total counter",
            ]
            for (method, route, status), count in sorted(self.requests.items()):
                out.append(
                    f'crm_requests_total{{method="{method}",route="{route}",status="{status}"}} '
                    f"{count}"
                )
            out += [
                "# HELP crm_request_duration_seconds Time to answer, by route template.",
                "# TYPE crm_request_duration_seconds histogram",
            ]
            for (method, route), counts in sorted(self.latency.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, count in zip((*BUCKETS, "+Inf"), counts, strict=False):
                    out.append(
                        f'crm_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count:g}'
                    )
                total = counts[len(BUCKETS)]
                out.append(f"crm_request_duration_seconds_sum{{{labels}}} {counts[-1]:.6f}")
                out.append(f"crm_request_duration_seconds_count{{{labels}}} {total:g}")
        return out


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
