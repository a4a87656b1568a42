"""A load test: users working at the same time against a real `crm serve` on 127.0.0.1.

    .venv/bin/python bench/load.py --size M --db sqlite|postgres [--users 8] [--seconds 60]
    .venv/bin/python bench/load.py --size M --db sqlite --only list [--users 8]

The server runs as `crm serve --cpu N` on the last CPU (`--cpu` chooses another,
`--unpinned` none), as README recommends for one worker on a machine of its own.

The mixed run has every user log touchpoints, edit contacts and deals (each edit sends
the version it read, from a small shared pool so that users collide), move enrollments
and deals, and read the contact list. Afterwards the database is counted: every write
the server acknowledged is there, each contact's and deal's version went up by exactly
the number of acknowledged changes (so no change overwrote another silently), and no
answer was a 5xx. The list run measures the contact list page alone (requests per
second and latency percentiles). Uses the data sets of bench/run.py.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, bindparam, text

from crm.core import tallies
from crm.core.db import job_session, make_engine
from crm.kept import TALLIES, settle_all
from crm.users import service as user_service
from crm.users.models import Role, UserCreate

POOL = 20  # contacts and deals that every user edits: small, so that edits collide
MARK = "load"


@dataclass
class Tally:
    """What one run saw: latencies and statuses by operation, and the acknowledged writes."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    touchpoints: int = 0
    contact_edits: Counter = field(default_factory=Counter)
    deal_edits: Counter = field(default_factory=Counter)
    moves: int = 0
    conflicts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, operation: str, status: int, ms: float) -> None:
        with self.lock:
            self.latencies[operation].append(ms)
            self.statuses[(operation, status)] += 1


class Connection:
    """One user's keep-alive connection."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
        headers = dict(self.headers)
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        start = time.perf_counter()
        try:
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.conn.close()
            self.conn.request(method, path, body=payload, headers=headers)
            response = self.conn.getresponse()
        content = response.read()
        ms = (time.perf_counter() - start) * 1000
        kind = response.getheader("content-type", "")
        data = json.loads(content) if kind.startswith("application/json") and content else None
        return response.status, data, ms


@dataclass
class Pools:
    contacts: list[int]
    deals: list[int]
    enrollments: list[int]
    phases: dict[int, list[int]]  # journey -> its phases
    enrollment_journey: dict[int, int]
    stages: dict[int, list[int]]  # pipeline -> its open stages
    deal_pipeline: dict[int, int]


def pools(engine: Engine) -> Pools:
    with engine.connect() as conn:
        contacts = list(
            conn.scalars(text("SELECT id FROM contact ORDER BY id LIMIT :n"), {"n": POOL})
        )
        deals = conn.execute(
            text("SELECT id, pipeline_id FROM deal WHERE status = 'open' ORDER BY id LIMIT :n"),
            {"n": POOL},
        ).all()
        enrollments = conn.execute(
            text(
                "SELECT id, journey_id FROM enrollment WHERE status = 'active' ORDER BY id LIMIT :n"
            ),
            {"n": POOL * 10},
        ).all()
        phases: dict[int, list[int]] = defaultdict(list)
        for journey_id, phase_id in conn.execute(
            text("SELECT journey_id, id FROM phase WHERE is_archived = false ORDER BY position, id")
        ):
            phases[journey_id].append(phase_id)
        stages: dict[int, list[int]] = defaultdict(list)
        for pipeline_id, stage_id in conn.execute(
            text(
                "SELECT pipeline_id, id FROM deal_stage WHERE kind = 'open' "
                "AND is_archived = false ORDER BY position, id"
            )
        ):
            stages[pipeline_id].append(stage_id)
    return Pools(
        contacts=contacts,
        deals=[d for d, _ in deals],
        enrollments=[e for e, _ in enrollments],
        phases=dict(phases),
        enrollment_journey=dict(enrollments),
        stages=dict(stages),
        deal_pipeline=dict(deals),
    )


def versions(engine: Engine, table: str, ids: list[int]) -> dict[int, int]:
    query = text(f"SELECT id, version FROM {table} WHERE id IN :ids")  # noqa: S608 (fixed names)
    with engine.connect() as conn:
        return dict(
            conn.execute(query.bindparams(bindparam("ids", expanding=True)), {"ids": ids}).all()
        )


def tokens(engine: Engine, users: int, stamp: str) -> list[str]:
    """A sales rep with an API token for each simulated user."""
    secrets = []
    with job_session(engine) as session:
        for n in range(users):
            user = user_service.create_user(
                session,
                data=UserCreate(
                    email=f"{MARK}-{stamp}-{n}@example.com",
                    name=f"Load {n}",
                    roles={Role.SALES_REP, Role.ACCOUNT_MANAGER},
                ),
                password=f"load password {stamp}",
                actor_id=None,
            )
            secrets.append(user_service.create_token(session, user=user, name=MARK)[1])
    return secrets


def mixed_user(
    number: int, conn: Connection, pools: Pools, tally: Tally, until: float, stamp: str
) -> None:
    rng = Random(number)

    def log_touchpoint() -> None:
        contact = rng.choice(pools.contacts)
        body = {"summary": f"{MARK} {stamp} {number}", "contact_id": contact, "channel": "call"}
        status, _, ms = conn.call("POST", "/api/v1/touchpoints", body)
        tally.note("log a touchpoint", status, ms)
        if status == 201:
            with tally.lock:
                tally.touchpoints += 1

    def edit(kind: str, path: str, acked: Counter, change: dict[str, Any]) -> None:
        row = rng.choice(pools.contacts if kind == "contact" else pools.deals)
        status, current, ms = conn.call("GET", f"{path}/{row}")
        tally.note(f"read a {kind}", status, ms)
        if status != 200:
            return
        time.sleep(rng.random() * 0.02)  # a person takes a moment: others may edit meanwhile
        body = {**change, "version": current["version"]}
        status, _, ms = conn.call("PATCH", f"{path}/{row}", body)
        tally.note(f"edit a {kind}", status, ms)
        with tally.lock:
            if status == 200:
                acked[row] += 1
            elif status == 409:
                tally.conflicts += 1

    def move_enrollment() -> None:
        enrollment = rng.choice(pools.enrollments)
        phase = rng.choice(pools.phases[pools.enrollment_journey[enrollment]])
        body = {"phase_id": phase, "reason": f"{MARK} {stamp}"}
        status, _, ms = conn.call("POST", f"/api/v1/enrollments/{enrollment}/move", body)
        tally.note("move an enrollment", status, ms)
        if status == 200:
            with tally.lock:
                tally.moves += 1

    def move_deal() -> None:
        deal = rng.choice(pools.deals)
        stage = rng.choice(pools.stages[pools.deal_pipeline[deal]])
        status, _, ms = conn.call("POST", f"/api/v1/deals/{deal}/move", {"stage_id": stage})
        tally.note("move a deal", status, ms)
        if status == 200:
            with tally.lock:
                tally.deal_edits[deal] += 1

    def read_list() -> None:
        status, _, ms = conn.call("GET", "/api/v1/contacts?limit=50")
        tally.note("contact list (API)", status, ms)

    actions: list[Callable[[], None]] = [
        log_touchpoint,
        log_touchpoint,
        lambda: edit(
            "contact",
            "/api/v1/contacts",
            tally.contact_edits,
            {"job_title": f"{MARK} {number} {rng.randrange(10**6)}"},
        ),
        lambda: edit("deal", "/api/v1/deals", tally.deal_edits, {"next_step": f"{MARK} {number}"}),
        move_enrollment,
        move_deal,
        read_list,
    ]
    while time.monotonic() < until:
        rng.choice(actions)()


def list_user(number: int, conn: Connection, tally: Tally, until: float) -> None:
    while time.monotonic() < until:
        status, _, ms = conn.call("GET", "/contacts")
        tally.note("contact list page", status, ms)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(len(ordered) * share) - 1))]


def run_mixed(engine: Engine, port: int, *, users: int, seconds: float) -> dict[str, Any]:
    """The mixed workload, then the count of what landed; raises when something is lost."""
    stamp = f"{time.time_ns() % 16**8:08x}"
    secrets = tokens(engine, users, stamp)
    found = pools(engine)
    contacts_before = versions(engine, "contact", found.contacts)
    deals_before = versions(engine, "deal", found.deals)
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=mixed_user,
            args=(
                n,
                Connection(port, {"Authorization": f"Bearer {secret}"}),
                found,
                tally,
                until,
                stamp,
            ),
        )
        for n, secret in enumerate(secrets)
    ]
    elapsed = run_together(threads)

    with engine.connect() as conn:
        landed_touchpoints = conn.scalar(
            text("SELECT count(*) FROM touchpoint WHERE summary LIKE :s"),
            {"s": f"{MARK} {stamp} %"},
        )
        landed_moves = conn.scalar(
            text("SELECT count(*) FROM phase_transition WHERE reason = :s"),
            {"s": f"{MARK} {stamp}"},
        )
    contacts_after = versions(engine, "contact", found.contacts)
    deals_after = versions(engine, "deal", found.deals)
    differing = kept_figures_differing(engine)
    doubled = in_two_phases(engine, stamp)
    lost = {
        "touchpoints": tally.touchpoints - landed_touchpoints,
        "enrollment moves": tally.moves - landed_moves,
        "contact edits": sum(
            tally.contact_edits[c] - (contacts_after[c] - contacts_before[c])
            for c in found.contacts
        ),
        "deal changes": sum(
            tally.deal_edits[d] - (deals_after[d] - deals_before[d]) for d in found.deals
        ),
    }
    return {
        **totals(tally, users, elapsed),
        "acknowledged": {
            "touchpoints": tally.touchpoints,
            "enrollment moves": tally.moves,
            "contact edits": sum(tally.contact_edits.values()),
            "deal changes": sum(tally.deal_edits.values()),
        },
        "refused as stale (409)": tally.conflicts,
        "lost": lost,
        "kept figures differing": differing,
        "enrollments in two phases at once": doubled,
    }


def in_two_phases(engine: Engine, stamp: str) -> int:
    """Enrollments that the run left in two phases at once (two stays that overlap, one
    of them begun in the run): moves at the same moment that both closed the same stay."""
    with engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(DISTINCT a.enrollment_id) FROM phase_transition AS a "
                "JOIN phase_transition AS b ON b.enrollment_id = a.enrollment_id AND b.id > a.id "
                "WHERE a.enrollment_id IN "
                "(SELECT enrollment_id FROM phase_transition WHERE reason = :s) "
                "AND a.to_phase_id IS NOT NULL AND b.to_phase_id IS NOT NULL "
                "AND (b.until IS NULL OR a.at < b.until) AND (a.until IS NULL OR b.at < a.until) "
                "AND (a.reason = :s OR b.reason = :s)"
            ),
            {"s": f"{MARK} {stamp}"},
        )


def kept_figures_differing(engine: Engine) -> dict[str, list[str]]:
    """Where a figure kept by triggers (board counts, forecast) differs from a fresh
    count after the concurrent writes, before and after settling them."""
    with job_session(engine) as session:
        found = {t.name: tallies.check(session, t) for t in TALLIES}
    with job_session(engine) as session:
        settle_all(session)
    with job_session(engine) as session:
        found |= {f"{t.name}, settled": tallies.check(session, t) for t in TALLIES}
    return {name: lines for name, lines in found.items() if lines}


def run_list(port: int, login: Callable[[int], str], *, users: int, seconds: float) -> dict:
    """The contact list page alone, by ``users`` signed-in users at once."""
    tally = Tally()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=list_user, args=(n, Connection(port, {"Cookie": login(port)}), tally, until)
        )
        for n in range(users)
    ]
    return totals(tally, users, run_together(threads))


def run_together(threads: list[threading.Thread]) -> float:
    """Start the users at once and wait for all; the seconds it took."""
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def totals(tally: Tally, users: int, elapsed: float) -> dict[str, Any]:
    total = sum(tally.statuses.values())
    return {
        "users": users,
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "server_errors": {f"{op} {s}": n for (op, s), n in tally.statuses.items() if s >= 500},
        "operations": summary(tally),
    }


def summary(tally: Tally) -> dict[str, dict[str, Any]]:
    return {
        operation: {
            "requests": len(ms),
            "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "statuses": {
                str(status): n
                for (op, status), n in sorted(tally.statuses.items())
                if op == operation
            },
        }
        for operation, ms in sorted(tally.latencies.items())
    }


def main() -> None:
    from bench import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["S", "M", "L"], default="S")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--only", choices=["mixed", "list"], default=None)
    parser.add_argument(
        "--cpu",
        type=int,
        default=max(os.sched_getaffinity(0)),
        help="the CPU the server is kept on (crm serve --cpu); the last one unless told",
    )
    parser.add_argument("--unpinned", action="store_true", help="leave the server unpinned")
    options = parser.parse_args()
    cpu = None if options.unpinned else options.cpu
    run.OUT.mkdir(parents=True, exist_ok=True)
    url = run.database_url(options.db, options.size)
    run.ensure_data(url, options.size)
    engine = make_engine(url)
    server, port = run.start_server(url, count_statements=False, cpu=cpu)
    results: dict[str, Any] = {"size": options.size, "db": options.db, "cpu": cpu}
    try:
        if options.only in (None, "list"):
            results["list"] = run_list(
                port, cookie_for, users=options.users, seconds=options.seconds
            )
            print_result("contact list page", results["list"])
        if options.only in (None, "mixed"):
            results["mixed"] = run_mixed(engine, port, users=options.users, seconds=options.seconds)
            print_result("mixed work", results["mixed"])
    finally:
        server.terminate()
        server.wait(timeout=10)
        engine.dispose()
    unpinned = "-unpinned" if cpu is None else ""
    path = run.OUT / f"load-{options.size}-{options.db}{unpinned}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"JSON: {path}")
    mixed = results.get("mixed", {})
    if (
        any(mixed.get("lost", {}).values())
        or mixed.get("kept figures differing")
        or mixed.get("enrollments in two phases at once")
        or any(r.get("server_errors") for r in results.values() if isinstance(r, dict))
    ):
        raise SystemExit(
            "writes were lost, kept figures differ, a history overlaps, or answers were 5xx"
        )


def cookie_for(port: int) -> str:
    from bench import run

    client = run.Client(port)
    run.login(client)
    return client.cookie


def print_result(title: str, result: dict[str, Any]) -> None:
    print(
        f"{title}: {result['users']} users, {result['seconds']} s, "
        f"{result['requests']:,} requests, {result['requests_per_s']} requests/s"
    )
    print(f"  {'operation':24} {'requests':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  statuses")
    for name, op in result["operations"].items():
        print(
            f"  {name:24} {op['requests']:>9,} {op['p50_ms']:>8} {op['p95_ms']:>8} "
            f"{op['p99_ms']:>8}  {op['statuses']}"
        )
    for key in (
        "acknowledged",
        "refused as stale (409)",
        "lost",
        "kept figures differing",
        "enrollments in two phases at once",
        "server_errors",
    ):
        if key in result:
            print(f"  {key}: {result[key]}")


if __name__ == "__main__":
    main()
