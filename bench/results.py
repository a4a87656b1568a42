"""Write bench/RESULTS.md from the JSON that bench/run.py and bench/load.py left in
var/bench/: the benchmark table at M (both databases) and L (PostgreSQL), the ratio of L
to M, and the load test, with the machine, the date and the commands.

    .venv/bin/python bench/results.py
"""

import json
import os
import platform
import sqlite3
from datetime import UTC, datetime
from itertools import product
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
MISSING = "n/a"
OUT = ROOT / "var" / "bench"
RUNS = [("M", "sqlite"), ("M", "postgres"), ("L", "postgres")]
COMMANDS = [
    "make bench SIZE=M DB=sqlite",
    "make bench SIZE=M DB=postgres",
    "make load SIZE=M DB=sqlite",
    "make load SIZE=M DB=postgres",
    ".venv/bin/python bench/load.py --size M --db sqlite --only list --unpinned",
    ".venv/bin/python bench/run.py --size L --db postgres --no-import --requests 100 --warmup 5",
    ".venv/bin/python bench/mail.py --size M --db sqlite",
    ".venv/bin/python bench/mail.py --size M --db postgres",
    ".venv/bin/python bench/results.py",
]


def load(name: str) -> dict[str, Any] | None:
    path = OUT / name
    return json.loads(path.read_text()) if path.exists() else None


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    try:
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres") as conn:
            postgres = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.OperationalError:
        postgres = "not reached"
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb / (1 << 20):.0f} GiB memory, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"PostgreSQL {postgres}"
    )


def cell(result: dict[str, Any] | None, operation: str) -> str:
    figures = (result or {}).get("operations", {}).get(operation)
    if not figures:
        return MISSING
    statements = figures["sql_statements_max"]
    sql = f" ({statements} SQL)" if statements >= 0 else ""
    return f"{figures['p50_ms']:.1f} / {figures['p95_ms']:.1f}{sql}"


def ratio(large: dict | None, medium: dict | None, operation: str) -> str:
    try:
        p95 = [run["operations"][operation]["p95_ms"] for run in (large, medium)]
        return f"{p95[0] / p95[1]:.2f}"
    except (KeyError, TypeError, ZeroDivisionError):
        return MISSING


def main() -> None:
    results = {run: load(f"results-{run[0]}-{run[1]}.json") for run in RUNS}
    operations = list(
        dict.fromkeys(op for r in results.values() if r for op in r.get("operations", {}))
    )
    lines = [
        "# Benchmark results",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}. One `crm serve` worker on",
        "127.0.0.1, one keep-alive connection, 200 timed requests per operation after a warm-up",
        "(100 at L, where 20 left a p95 to one slow request); p50 / p95 in milliseconds, and",
        "the most SQL statements one request ran. M is 100k contacts, 10k companies and 1M",
        "touchpoints; L is 1M contacts, 100k companies and 10M touchpoints. The last column is",
        "the p95 at L over the p95 at M on PostgreSQL (the issue's bound: at most 2).",
        "",
        "Commands:",
        "",
        "```sh",
        *COMMANDS,
        "```",
        "",
        "| operation | M, SQLite | M, PostgreSQL | L, PostgreSQL | L / M |",
        "| --- | --- | --- | --- | --- |",
    ]
    medium, large = results[("M", "postgres")], results[("L", "postgres")]
    for op in operations:
        row = [cell(results[run], op) for run in RUNS]
        lines.append(f"| {op} | {' | '.join(row)} | {ratio(large, medium, op)} |")
    lines += ["", "## Jobs, privacy and import", ""]
    lines += [
        "| measurement | M, SQLite | M, PostgreSQL | L, PostgreSQL |",
        "| --- | --- | --- | --- |",
    ]
    extras = {
        "rule evaluation, all rules over every subject (s, median of 5)": (
            "rule_evaluation",
            "first_s_median",
        ),
        "rule evaluation again, nothing new (s, median)": ("rule_evaluation", "again_s_median"),
        "GDPR export, 1,000 touchpoints (p95 ms)": ("gdpr", "export_1000", "p95_ms"),
        "GDPR erasure, 1,000 touchpoints (p95 ms)": ("gdpr", "erase_1000", "p95_ms"),
        "GDPR export, 100,000 touchpoints (ms)": ("gdpr", "export_100000_ms"),
        "server memory during that export (MB, peak)": ("gdpr", "rss_peak_mb"),
        "CSV import, 100,000 rows (rows/s)": ("import", "rows_per_s"),
        "server memory during the import (MB, peak)": ("import", "rss_peak_mb"),
    }
    for title, path in extras.items():
        row = []
        for run in RUNS:
            value: Any = results[run]
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            row.append(MISSING if value is None else f"{value:,}")
        lines.append(f"| {title} | {' | '.join(row)} |")

    mail = {db: load(f"mail-M-{db}.json") for db in ("sqlite", "postgres")}
    if any(mail.values()):
        lines += ["", "## Mail (bench/mail.py, M)", ""]
        lines += ["| measurement | SQLite | PostgreSQL |", "| --- | --- | --- |"]
        for title, part, key in (
            ("reading 10,000 mails from Dovecot (mails/s)", "reading", "messages_per_second"),
            ("sending 1,000 queued mails over SMTP (mails/s)", "sending", "mails_per_second"),
        ):
            row = [
                f"{run[part][key]:,}" if run and part in run else MISSING for run in mail.values()
            ]
            lines.append(f"| {title} | {' | '.join(row)} |")

    lines += ["", "## Load test (bench/load.py, 8 users, 60 s each)", ""]
    for db, unpinned in product(("sqlite", "postgres"), ("", "-unpinned")):
        run = load(f"load-M-{db}{unpinned}.json")
        if not run:
            continue
        server = (
            f"the server kept on CPU {run['cpu']} (`crm serve --cpu {run['cpu']}`)"
            if run.get("cpu") is not None
            else "the server unpinned (`--unpinned`)"
        )
        for part in ("list", "mixed"):
            if part not in run:
                continue
            result = run[part]
            lines += [
                f"**M, {db}, {'the contact list page' if part == 'list' else 'mixed work'}, "
                f"{server}:** "
                f"{result['requests']:,} requests in {result['seconds']} s, "
                f"{result['requests_per_s']} requests/s, 5xx answers: "
                f"{sum(result['server_errors'].values()) if result['server_errors'] else 0}.",
                "",
                "| operation | requests | p50 ms | p95 ms | p99 ms | answers |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            for name, op in result["operations"].items():
                answers = ", ".join(f"{s}: {n:,}" for s, n in op["statuses"].items())
                lines.append(
                    f"| {name} | {op['requests']:,} | {op['p50_ms']} | {op['p95_ms']} | "
                    f"{op['p99_ms']} | {answers} |"
                )
            if part == "mixed":
                lines += [
                    "",
                    f"Acknowledged writes: {result['acknowledged']}; refused as stale (409): "
                    f"{result['refused as stale (409)']}; lost (counted in the database "
                    f"afterwards): {result['lost']}; enrollments left in two phases at once: "
                    f"{result.get('enrollments in two phases at once', 'not counted')}.",
                ]
            lines.append("")
    (ROOT / "bench" / "RESULTS.md").write_text("\n".join(lines).rstrip() + "\n")
    print(ROOT / "bench" / "RESULTS.md")


if __name__ == "__main__":
    main()
