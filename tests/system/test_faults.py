"""Faults: a server killed during an import, a rule run killed before it committed, the
database away for a moment, and a full disk under SQLite."""

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text
from sqlmodel import Session

from bench import run
from crm.core.db import job_session, make_engine, utcnow
from crm.followups import evaluation, jobs
from crm.followups import rules as followup_rules
from crm.followups.models import Followup
from crm.imports.models import ImportJob
from crm.main import create_app
from tests.conftest import TEST_DATABASE_URL, make_settings
from tests.system.conftest import owner_token

ROWS = 40_000


def imported(session: Session, stamp: str) -> int:
    query = text("SELECT count(*) FROM contact WHERE source = :s")
    return session.execute(query, {"s": stamp}).scalar_one()


def test_an_import_cut_off_by_a_killed_server_says_what_landed_and_resumes(database, tmp_path):
    url, engine = database
    bearer = owner_token(engine)
    stamp = "killed-import"
    body, content_type = run.multipart("people.csv", run.import_file(stamp, ROWS))
    server, port = run.start_server(url, var_dir=tmp_path)
    client = run.Client(port)
    status, answer, _ = client.request(
        "POST", "/api/v1/contacts/import", body, {**bearer, "Content-Type": content_type}
    )
    assert status == 202, answer
    job_id = int(answer.split('"id":')[1].split(",")[0])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with Session(engine) as session:
            job = session.get(ImportJob, job_id)
            if job.rows_done > 0:
                break
        time.sleep(0.02)
    server.send_signal(signal.SIGKILL)  # no shutdown: as if the machine lost power
    server.wait(timeout=10)

    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        assert job.status == "running" and 0 < job.rows_done < ROWS, (job.status, job.rows_done)
        # What the job says landed is exactly what is there: whole batches, nothing half.
        assert imported(session, stamp) == job.created == job.rows_done
        # Time passes: the runner takes a running import without a sign of life as cut off.
        job.updated_at = utcnow() - timedelta(hours=1)
        session.add(job)
        session.commit()

    server, port = run.start_server(url, var_dir=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Session(engine) as session:
                job = session.get(ImportJob, job_id)
                if job.status in ("done", "failed"):
                    break
            time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert (job.status, job.rows_done, job.created, job.failed) == ("done", ROWS, ROWS, 0)
    with Session(engine) as session:
        assert imported(session, stamp) == ROWS  # every row once: none lost, none twice


KILLED_RUN = """
import os, signal, sys
from crm.core.db import job_session, make_engine
from crm.followups import evaluation
with job_session(make_engine(sys.argv[1])) as session:
    print(evaluation.run(session).created, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # killed after the work, before the commit
"""


def test_a_rule_run_killed_midway_leaves_nothing_and_the_next_run_does_it_all(database):
    url, engine = database
    with job_session(engine) as session:
        followup_rules.seed_default_rules(session)
    with Session(engine) as session:
        expected = evaluation.run(session).created  # what one whole run makes, rolled back
    assert expected > 0

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, url], capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL and int(killed.stdout) == expected

    def made() -> tuple[int, int]:
        with Session(engine) as session:
            rows = select(func.count(), func.count(func.distinct(Followup.occasion)))
            return tuple(session.execute(rows.where(Followup.rule_id.is_not(None))).one())

    assert made() == (0, 0)
    assert jobs.evaluate_rules(lambda: job_session(engine)).created == expected
    assert jobs.evaluate_rules(lambda: job_session(engine)).created == 0
    assert made() == (expected, expected)


class Gate:
    """A TCP relay to PostgreSQL that can be shut: the database gone for a moment."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.links: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        # Shutting the gate closes the sockets under this loop: that ends the relay.
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            end.close()

    def shut(self) -> None:
        self.open = False
        for link in self.links:
            link.close()
        self.links.clear()


def test_the_database_away_for_a_moment_gives_503_and_the_app_recovers(database, tmp_path):
    url, engine = database
    bearer = owner_token(engine)
    if TEST_DATABASE_URL:
        from sqlalchemy import make_url

        server = make_url(url)
        gate = Gate(server.host or "127.0.0.1", server.port or 5432)
        app_engine = make_engine(
            server.set(host="127.0.0.1", port=gate.port).render_as_string(False)
        )
        away, back = gate.shut, lambda: setattr(gate, "open", True)
    else:
        # SQLite is away when another process holds it: wait a moment, not half a minute.
        app_engine = make_engine(url)
        event.listen(
            app_engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout = 200")
        )
        holder = engine.raw_connection()

        def away() -> None:
            holder.execute("BEGIN EXCLUSIVE")

        def back() -> None:
            holder.rollback()

    client = TestClient(create_app(make_settings(tmp_path, url), engine=app_engine))
    note = {"summary": "Called", "channel": "call", "contact_id": 1}
    assert client.post("/api/v1/touchpoints", json=note, headers=bearer).status_code == 201
    away()
    refused = client.post("/api/v1/touchpoints", json=note, headers=bearer)
    assert refused.status_code == 503, refused.text
    assert "cannot be reached" in refused.json()["detail"]
    back()
    assert client.post("/api/v1/touchpoints", json=note, headers=bearer).status_code == 201
    with engine.connect() as conn:
        notes = conn.scalar(text("SELECT count(*) FROM touchpoint WHERE summary = 'Called'"))
    assert notes == 2  # the refused one left nothing
    app_engine.dispose()


def test_a_full_disk_under_sqlite_says_so_and_corrupts_nothing(tmp_path):
    from alembic import command

    from crm.cli import alembic_config
    from tests.factories import make_token, make_user

    url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    command.upgrade(alembic_config(url), "head")
    engine = make_engine(url)
    with Session(engine) as session:
        bearer = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    pages = {"limit": None}

    @event.listens_for(engine, "connect")
    def _fill_up(conn, _) -> None:  # a disk with no room beyond what the file has now
        if pages["limit"]:
            conn.execute(f"PRAGMA max_page_count = {pages['limit']}")

    with engine.connect() as conn:
        pages["limit"] = conn.exec_driver_sql("PRAGMA page_count").scalar()
    engine.dispose()
    client = TestClient(create_app(make_settings(tmp_path, url), engine=engine))
    big = {"first_name": "Fill", "last_name": "Up", "notes": "x" * 9_000}
    answers = [client.post("/api/v1/contacts", json=big, headers=bearer) for _ in range(200)]
    full = [a for a in answers if a.status_code != 201]
    assert full and {a.status_code for a in full} == {507}, {a.status_code for a in answers}
    assert "disk is full" in full[0].json()["detail"]
    stored = sum(a.status_code == 201 for a in answers)

    pages["limit"] = None
    engine.dispose()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert conn.exec_driver_sql("SELECT count(*) FROM contact").scalar() == stored
    assert client.post("/api/v1/contacts", json=big, headers=bearer).status_code == 201
    engine.dispose()
