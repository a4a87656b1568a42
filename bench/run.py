"""Benchmark the CRM's hot paths against a real `crm serve` on 127.0.0.1.

    .venv/bin/python bench/run.py --size S|M|L --db sqlite|postgres [--requests 200]

Generates the data set once (bench/generate.py; SQLite under var/bench/, PostgreSQL in
the database crm_bench_<size> on 127.0.0.1:5432), starts the CRM with one uvicorn worker,
logs in, warms up, then times each operation over one keep-alive connection. Prints p50
and p95 latency and the SQL statements each request ran (X-SQL-Statements), as a table
and as JSON (var/bench/results-<size>-<db>.json).
"""

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
from alembic import command
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from bench import gdpr as gdpr_bench
from bench.generate import BENCH_EMAIL, BENCH_PASSWORD, BUSY_CONTACTS, DATA_NOW
from bench.mail_data import conversations_setup
from crm.cli import alembic_config
from crm.core.db import job_session, make_engine
from crm.core.pagination import encode_cursor
from crm.followups import evaluation, jobs
from crm.followups import rules as followup_rules
from crm.followups.models import Followup
from crm.kept import settle_all

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUT = ROOT / "var" / "bench"
PAGE = 50
IMPORT_ROWS = 100_000
SEARCHES = ["müller", "schmidt", "anna", "0171 234", "mail42", "sonnen", "o'neill", "weiß"]


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""

    def request(
        self, method: str, path: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, int]:
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError):
            # uvicorn closes a keep-alive connection idle for 5 s; open a new one.
            self.conn.close()
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
        content = response.read().decode(errors="replace")  # a ZIP is bytes
        if cookie := response.getheader("set-cookie"):
            self.cookie = cookie.split(";", 1)[0]
        return response.status, content, int(response.getheader("x-sql-statements", "-1"))


def database_url(db: str, size: str) -> str:
    if db == "sqlite":
        return f"sqlite:///{OUT / f'bench-{size}.sqlite3'}"
    name = f"crm_bench_{size.lower()}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            c.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def ensure_data(url: str, size: str) -> None:
    """Generate the data set unless it is there; bring an existing one's schema up to date
    and fold into the kept figures what earlier runs changed. The server's jobs do that
    every 10 minutes; a run is shorter, so without it the next run would read the changes
    of every run before (670,000 touchpoint figures after two runs at L)."""
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with job_session(engine) as session:
        settle_all(session)
    with engine.connect() as conn:
        loaded = conn.execute(
            text(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'contact'"
                if engine.dialect.name == "postgresql"
                else "SELECT count(*) FROM sqlite_master WHERE name = 'contact'"
            )
        ).scalar()
        if loaded:
            loaded = conn.execute(text("SELECT count(*) FROM contact")).scalar()
    engine.dispose()
    if not loaded:
        print(f"generating size {size} ...", flush=True)
        subprocess.run(
            [BIN / "python", ROOT / "bench" / "generate.py", "--size", size, "--database-url", url],
            check=True,
        )


def page_cursor(url: str, page: int) -> str:
    """The cursor that opens page ``page`` of the contact list sorted by name."""
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT last_name, first_name, id FROM contact "
                "ORDER BY last_name, first_name, id LIMIT 1 OFFSET :skip"
            ),
            {"skip": (page - 1) * PAGE - 1},
        ).one()
    engine.dispose()
    return encode_cursor(list(row))


def journey_setup(url: str) -> tuple[int, list[int], dict[int, int]]:
    """The Classic journey, its phases in order, and some active enrollments by phase."""
    engine = make_engine(url)
    with engine.connect() as conn:
        journey_id = conn.execute(text("SELECT id FROM journey WHERE name = 'Classic'")).scalar()
        phases = list(
            conn.execute(
                text("SELECT id FROM phase WHERE journey_id = :j ORDER BY position, id"),
                {"j": journey_id},
            ).scalars()
        )
        active = conn.execute(
            text(
                "SELECT id, phase_id FROM enrollment WHERE journey_id = :j AND status = 'active' "
                "ORDER BY id LIMIT 1000"
            ),
            {"j": journey_id},
        ).all()
    engine.dispose()
    return journey_id, phases, dict(active)


def deal_setup(url: str) -> tuple[int, list[int], dict[int, int]]:
    """The first pipeline, its open stages in order, and some open deals by stage."""
    engine = make_engine(url)
    with engine.connect() as conn:
        pipeline_id = conn.execute(text("SELECT min(id) FROM pipeline")).scalar()
        stages = list(
            conn.execute(
                text(
                    "SELECT id FROM deal_stage WHERE pipeline_id = :p AND kind = 'open' "
                    "ORDER BY position, id"
                ),
                {"p": pipeline_id},
            ).scalars()
        )
        open_deals = conn.execute(
            text("SELECT id, stage_id FROM deal WHERE status = 'open' ORDER BY id LIMIT 1000")
        ).all()
    engine.dispose()
    return pipeline_id, stages, dict(open_deals)


def start_server(
    url: str,
    var_dir: Path = OUT,
    *,
    count_statements: bool = True,
    cpu: int | None = None,
    settings: dict[str, str] | None = None,
    workers: int = 1,
) -> tuple[subprocess.Popen, int]:
    """``crm serve`` on a free port; ``count_statements`` adds X-SQL-Statements to every
    answer, which costs a little: the load test runs without it, as production does.
    ``cpu``: keep the server on that CPU (``crm serve --cpu``); ``settings``: more of the
    environment (``CRM_...``)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "CRM_DATABASE_URL": url,
        "CRM_RUN_SCHEDULER": "false",
        "CRM_COUNT_STATEMENTS": str(count_statements).lower(),
        "CRM_VAR_DIR": str(var_dir),
        **(settings or {}),
    }
    pinned = [] if cpu is None else ["--cpu", str(cpu)]
    server = subprocess.Popen(
        [BIN / "crm", "serve", "--port", str(port), "--workers", str(workers), *pinned],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(var_dir / "server.log", "w"),  # noqa: SIM115 (lives as long as the server)
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start within 30 s")


def login(client: Client) -> str:
    _, page, _ = client.request("GET", "/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urlencode({"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "csrf_token": token})
    status, _, _ = client.request(
        "POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert status == 303, f"login failed with {status}"
    _, home, _ = client.request("GET", "/")
    return re.search(r'"X-CSRF-Token": "([^"]+)"', home).group(1)


def import_file(stamp: str, rows: int) -> bytes:
    """A CSV as people upload it: every row with a new address and a mobile number, the
    companies from a small pool (some new, some there already)."""
    lines = ["first_name;last_name;email;phone;company;job_title;tags;source"]
    for n in range(rows):
        lines.append(
            f"Imke{n};Import{n % 997};imke{n}.{stamp}@import.example;0151 {n:08d};"
            f"Import Company {n % 2000};Buyer;import,bench;{stamp}"
        )
    return ("\r\n".join(lines) + "\r\n").encode()


def multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"bench{time.time_ns()}"
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def resident_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_import(api: Client, bearer: dict[str, str], server_pid: int, url: str) -> dict:
    """Upload IMPORT_ROWS contacts, watch the server's memory until the import is done,
    then remove what it created so that the data set stays as generated."""
    stamp = f"b{time.time_ns() % 16**6:06x}"
    body, content_type = multipart("bench.csv", import_file(stamp, IMPORT_ROWS))
    before = resident_mb(server_pid)
    started = time.perf_counter()
    status, text_, _ = api.request(
        "POST", "/api/v1/contacts/import", body, {**bearer, "Content-Type": content_type}
    )
    assert status == 202, text_
    job = json.loads(text_)
    peak = before
    while job["status"] not in ("done", "failed"):
        time.sleep(0.2)
        peak = max(peak, resident_mb(server_pid))
        job = json.loads(api.request("GET", f"/api/v1/imports/{job['id']}", headers=bearer)[1])
    wall = time.perf_counter() - started
    assert job["status"] == "done" and job["created"] == IMPORT_ROWS, job
    ran = (
        datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    ).total_seconds()
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM contact WHERE source = :s"), {"s": stamp})
        conn.execute(text("DELETE FROM company WHERE name LIKE 'Import Company %'"))
        conn.execute(text("DELETE FROM import_job WHERE id = :id"), {"id": job["id"]})
        conn.execute(text("DELETE FROM tag WHERE key IN ('import', 'bench')"))
    if engine.dialect.name == "postgresql":
        # The deleted rows would otherwise skew the next run's plans until autovacuum.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()
    return {
        "rows": IMPORT_ROWS,
        "file_mb": round(len(body) / (1 << 20), 1),
        "rows_per_s": round(IMPORT_ROWS / ran),
        "rows_per_s_with_upload": round(IMPORT_ROWS / wall),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(peak),
    }


def rules_setup(url: str) -> int:
    """The default rules, evaluated once as at the data's present so that the planner has
    its follow-ups; returns how many follow-ups the rules made."""
    engine = make_engine(url)
    made = col(Followup.rule_id).is_not(None)
    with job_session(engine) as session:
        followup_rules.seed_default_rules(session)
        count = session.execute(select(func.count()).select_from(Followup).where(made)).scalar_one()
    if not count:
        count = jobs.evaluate_rules(lambda: job_session(engine), as_of=DATA_NOW).created
    engine.dispose()
    return count


def measure_rules(url: str, runs: int = 5) -> dict:
    """A full evaluation of the active rules over every subject, as the scheduler runs it:
    first with none of their follow-ups there (all are created), then again (none are).
    Each run happens in a transaction that is rolled back, so every run sees the same data."""
    engine = make_engine(url)
    first, again, created = [], [], 0
    for _ in range(runs):
        with Session(engine) as session:
            session.execute(delete(Followup).where(col(Followup.rule_id).is_not(None)))
            start = time.perf_counter()
            created = evaluation.evaluate(session, as_of=DATA_NOW)
            first.append(time.perf_counter() - start)
            start = time.perf_counter()
            assert evaluation.evaluate(session, as_of=DATA_NOW) == 0
            again.append(time.perf_counter() - start)
            session.rollback()
    if engine.dialect.name == "postgresql":
        # The rolled-back runs leave dead rows that slow the next reads until autovacuum.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (ANALYZE)"))
    engine.dispose()
    return {
        "runs": runs,
        "created": created,
        "first_s_median": round(statistics.median(first), 3),
        "first_s_max": round(max(first), 3),
        "again_s_median": round(statistics.median(again), 3),
        "again_s_max": round(max(again), 3),
    }


def measure(
    runs: int, warmup: int, call: Callable[[int], tuple[int, str, int]], expected: int
) -> tuple[list[float], list[int]]:
    timings, statements = [], []
    for number in range(warmup + runs):
        start = time.perf_counter()
        status, _, count = call(number)
        elapsed = (time.perf_counter() - start) * 1000
        assert status == expected, f"got {status}, expected {expected}"
        if number >= warmup:
            timings.append(elapsed)
            statements.append(count)
    return timings, statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["S", "M", "L"], default="S")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--no-import", action="store_true", help="skip the CSV import step")
    parser.add_argument(
        "--only", default="", help="comma-separated words: run the operations that contain one"
    )
    options = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    url = database_url(options.db, options.size)
    ensure_data(url, options.size)
    cursor_1000 = page_cursor(url, 1000) if options.size != "S" else page_cursor(url, 50)
    rule_followups = rules_setup(url)
    mail_contacts = conversations_setup(url)
    server, port = start_server(url)
    try:
        web = Client(port)
        csrf = login(web)
        api_token = subprocess.run(
            [BIN / "crm", "create-token", "--email", BENCH_EMAIL, "--name", "bench"],
            env={**os.environ, "CRM_DATABASE_URL": url, "CRM_VAR_DIR": str(OUT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        api = Client(port)
        bearer = {"Authorization": f"Bearer {api_token}"}
        rows = {"HX-Request": "true", "HX-Target": "contact-rows"}
        quick_log = {
            "HX-Request": "true",
            "HX-Target": "timeline",
            "X-CSRF-Token": csrf,
            "Content-Type": "application/x-www-form-urlencoded",
        }
        deep = "1,000" if options.size != "S" else "50"
        journey_id, phases, in_phase = journey_setup(url)
        enrollments = list(in_phase)

        def move(n: int) -> tuple[int, str, int]:
            """Move one of the enrollments on to the next phase (round the journey)."""
            enrollment = enrollments[n % len(enrollments)]
            target = phases[(phases.index(in_phase[enrollment]) + 1) % len(phases)]
            answer = api.request(
                "POST",
                f"/api/v1/enrollments/{enrollment}/move",
                json.dumps({"phase_id": target, "reason": "bench"}),
                {**bearer, "Content-Type": "application/json"},
            )
            in_phase[enrollment] = target
            return answer

        pipeline_id, deal_stages, deal_in_stage = deal_setup(url)
        open_deals = list(deal_in_stage)

        def move_deal(n: int) -> tuple[int, str, int]:
            """Move one of the open deals on to the next open stage (round the stages)."""
            deal = open_deals[n % len(open_deals)]
            target = deal_stages[(deal_stages.index(deal_in_stage[deal]) + 1) % len(deal_stages)]
            answer = api.request(
                "POST",
                f"/api/v1/deals/{deal}/move",
                json.dumps({"stage_id": target}),
                {**bearer, "Content-Type": "application/json"},
            )
            deal_in_stage[deal] = target
            return answer

        def search(n: int) -> str:
            return quote(SEARCHES[n % len(SEARCHES)])

        operations: dict[str, tuple[Callable[[int], tuple[int, str, int]], int, int]] = {
            "contacts list, first page": (lambda n: web.request("GET", "/contacts"), 200, 1),
            f"contacts list, page {deep}": (
                lambda n: web.request("GET", f"/contacts?cursor={cursor_1000}"),
                200,
                1,
            ),
            "search (as you type, rows)": (
                lambda n: web.request("GET", f"/contacts?q={search(n)}", headers=rows),
                200,
                1,
            ),
            "search (API)": (
                lambda n: api.request("GET", f"/api/v1/contacts?q={search(n)}", headers=bearer),
                200,
                1,
            ),
            "contact page, 50 touchpoints": (
                lambda n: web.request("GET", f"/contacts/{n % BUSY_CONTACTS + 1}"),
                200,
                1,
            ),
            "contact page, 50 mails in 5 conversations": (
                lambda n: web.request("GET", f"/contacts/{mail_contacts[n % len(mail_contacts)]}"),
                200,
                1,
            ),
            "log a touchpoint (quick log)": (
                lambda n: web.request(
                    "POST",
                    f"/contacts/{BUSY_CONTACTS + 1 + n}/touchpoints",
                    urlencode({"summary": f"Bench call {n}", "channel": "call"}),
                    quick_log,
                ),
                201,
                1,
            ),
            "contact timeline (API)": (
                lambda n: api.request(
                    "GET", f"/api/v1/contacts/{n % BUSY_CONTACTS + 1}/timeline", headers=bearer
                ),
                200,
                1,
            ),
            "journey board": (lambda n: web.request("GET", f"/journeys/{journey_id}"), 200, 1),
            "move an enrollment (API)": (move, 200, 1),
            "journey board (API)": (
                lambda n: api.request(
                    "GET", f"/api/v1/journeys/{journey_id}/board", headers=bearer
                ),
                200,
                1,
            ),
            "journey map, a year": (
                lambda n: web.request("GET", f"/journeys/{journey_id}/map"),
                200,
                1,
            ),
            "journey map, a year (API)": (
                lambda n: api.request("GET", f"/api/v1/journeys/{journey_id}/map", headers=bearer),
                200,
                1,
            ),
            "journey analytics, a year": (
                lambda n: web.request("GET", f"/journeys/{journey_id}/analytics"),
                200,
                1,
            ),
            "journey analytics, a year (API)": (
                lambda n: api.request(
                    "GET", f"/api/v1/journeys/{journey_id}/analytics", headers=bearer
                ),
                200,
                1,
            ),
            "deal board": (lambda n: web.request("GET", f"/pipelines/{pipeline_id}"), 200, 1),
            "move a deal (API)": (move_deal, 200, 1),
            "deal forecast (API)": (
                lambda n: api.request("GET", "/api/v1/deals/forecast", headers=bearer),
                200,
                1,
            ),
            "home page": (lambda n: web.request("GET", "/"), 200, 1),
            "planner page": (lambda n: web.request("GET", "/planner"), 200, 1),
            "planner week": (lambda n: web.request("GET", "/planner/week"), 200, 1),
            "login (Argon2)": (lambda n: (login(Client(port)), (303, "", -1))[1], 303, 0),
        }
        results = {}
        print(f"size {options.size} on {options.db}, {options.requests} requests each")
        print(f"{'operation':32} {'p50 ms':>8} {'p95 ms':>8} {'SQL/request':>12}")
        wanted = [word.strip() for word in options.only.split(",") if word.strip()]
        for name, (call, expected, warm) in operations.items():
            if wanted and not any(word in name for word in wanted):
                continue
            runs = options.requests if warm else max(10, options.requests // 20)
            timings, statements = measure(runs, options.warmup if warm else 1, call, expected)
            timings.sort()
            p50, p95 = statistics.median(timings), timings[max(0, int(len(timings) * 0.95) - 1)]
            most = max(statements)
            results[name] = {
                "runs": runs,
                "p50_ms": round(p50, 2),
                "p95_ms": round(p95, 2),
                "sql_statements_max": most,
            }
            print(f"{name:32} {p50:>8.2f} {p95:>8.2f} {most if most >= 0 else '-':>12}")
        rules = None
        if not wanted or any(word in "rule evaluation" for word in wanted):
            rules = measure_rules(url)
            print(
                f"rule evaluation over every subject ({rules['runs']} runs): "
                f"{rules['first_s_median']} s median, {rules['first_s_max']} s at most, "
                f"creating {rules['created']:,} follow-ups; again with nothing new: "
                f"{rules['again_s_median']} s median, {rules['again_s_max']} s at most "
                f"(the planner's user has {rule_followups:,} rule-made follow-ups)"
            )
        privacy = None
        if not wanted or any(word in "gdpr export erase" for word in wanted):
            engine = make_engine(url)
            privacy = gdpr_bench.measure(
                engine, api, lambda: resident_mb(server.pid), OUT / "exports"
            )
            engine.dispose()
            one, gone = privacy["export_1000"], privacy["erase_1000"]
            print(
                f"export of a contact with 1,000 touchpoints: {one['p50_ms']} ms p50, "
                f"{one['p95_ms']} ms p95; erasure: {gone['p50_ms']} ms p50, {gone['p95_ms']} ms "
                f"p95, {gone['max_ms']} ms at most; with 100,000 touchpoints: export "
                f"{privacy['export_100000_ms']} ms, erasure {privacy['erase_100000_ms']} ms, "
                f"server memory {privacy['rss_before_mb']} MB before, "
                f"{privacy['rss_peak_mb']} MB at most"
            )
        imported = None if options.no_import else measure_import(api, bearer, server.pid, url)
        if imported:
            print(
                f"CSV import of {imported['rows']:,} rows ({imported['file_mb']} MB): "
                f"{imported['rows_per_s']:,} rows/s ({imported['rows_per_s_with_upload']:,} rows/s "
                f"with the upload); server memory {imported['rss_before_mb']} MB before, "
                f"{imported['rss_peak_mb']} MB at most"
            )
        path = OUT / f"results-{options.size}-{options.db}.json"
        path.write_text(
            json.dumps(
                {
                    "size": options.size,
                    "db": options.db,
                    "operations": results,
                    "rule_evaluation": rules,
                    "gdpr": privacy,
                    "import": imported,
                },
                indent=2,
            )
        )
        print(f"JSON: {path}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
