"""The GDPR part of the benchmark: export and erasure of a contact with 1,000
touchpoints through the API, and the server's memory while it exports one with 100,000.
The contacts are made for the measurement and erased by it: the data set stays as it was."""

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.core.db import insert_rows, job_session, reserve_ids, utcnow
from crm.gdpr import cases
from crm.gdpr.models import RequestCreate, RequestUpdate
from crm.journeys import attribution
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate
from crm.touchpoints.models import Channel, Touchpoint
from crm.users import service as user_service
from crm.users.models import Role, UserCreate

DPO_EMAIL = "bench-dpo@example.com"
RUNS = 10
SCRUB_PAUSE = 1.0  # seconds
BATCH = 10_000


def dpo_token(engine: Engine) -> str:
    with job_session(engine) as session:
        dpo = user_service.get_user_by_email(session, email=DPO_EMAIL)
        if dpo is None:
            dpo = user_service.create_user(
                session,
                data=UserCreate(email=DPO_EMAIL, name="Bench DPO", roles={Role.DPO}),
                password=user_service.generate_password(),
                actor_id=None,
            )
        return user_service.create_token(session, user=dpo, name="bench")[1]


def subject_with_touchpoints(engine: Engine, touchpoints: int, kind: str) -> int:
    """A contact in the Classic journey with many touchpoints (loaded in bulk, attributed
    as the services do) and a verified request; returns the request's id."""
    stamp = time.time_ns()
    with job_session(engine) as session:
        contact = contact_service.create_contact(
            session,
            data=ContactCreate(
                first_name="Bench", last_name=f"Subject {stamp}", emails=[f"s{stamp}@gdpr.example"]
            ),
            actor_id=None,
        )
        journey = journey_service.list_journeys(session)[0]
        journey_service.enroll(
            session,
            data=EnrollmentCreate(
                journey_id=journey.id,
                phase_id=journey_service.phases_of(session, journey)[0].id,
                contact_id=contact.id,
                at=utcnow().replace(year=2020),
            ),
            actor_id=None,
        )
        channel = session.exec(select(Channel.id).where(Channel.key == "call")).one()
        ids = reserve_ids(session, Touchpoint.__table__, touchpoints)
        now = utcnow()
        insert_rows(
            session,
            Touchpoint.__table__,
            [
                {
                    "id": id_,
                    "contact_id": contact.id,
                    "channel_id": channel,
                    "direction": "outbound",
                    "initiated_by": "company",
                    "occurred_at": now.replace(year=2021 + n % 5),
                    "summary": f"Bench call {n}",
                    "notes": "Talked about the contract, the price and the next delivery.",
                    "sentiment": n % 5 - 2,
                    "created_at": now,
                }
                for n, id_ in enumerate(ids)
            ],
        )
        for start in range(0, len(ids), BATCH):  # PostgreSQL takes 65,535 parameters at most
            attribution.refresh(session, touchpoint_ids=ids[start : start + BATCH], new=True)
        found = cases.create_request(
            session,
            data=RequestCreate(kind=kind, requester_name="Bench", contact_id=contact.id),
            actor_id=None,
        )
        cases.update_request(
            session, found=found, data=RequestUpdate(identity_verified=True), actor_id=None
        )
        return found.id


def _figures(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "runs": len(timings),
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, int(len(timings) * 0.95) - 1)], 1),
        "max_ms": round(timings[-1], 1),
    }


def _timed(call: Callable[[], tuple[int, str, int]]) -> float:
    start = time.perf_counter()
    status, body, _ = call()
    assert status == 200, (status, body[:300])
    return (time.perf_counter() - start) * 1000


def vacuum(engine: Engine) -> None:
    """PostgreSQL: the subjects made and erased leave dead rows that every later scan
    reads until autovacuum; clear them as the import measurement does."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")


def measure(engine: Engine, api: Any, rss: Callable[[], float], exports: Path) -> dict:
    vacuum(engine)  # what earlier runs left
    headers = {"Authorization": f"Bearer {dpo_token(engine)}"}

    def post(path: str) -> tuple[int, str, int]:
        return api.request("POST", path, headers=headers)

    access = subject_with_touchpoints(engine, 1_000, "access")
    export_path = f"/api/v1/privacy-requests/{access}/export"
    export = _figures([_timed(lambda: post(export_path)) for _ in range(RUNS * 2)])
    erasures = [subject_with_touchpoints(engine, 1_000, "erasure") for _ in range(RUNS)]
    timings = []
    for request_id in erasures:
        # After its answer an erasure merges the search index and checkpoints the WAL
        # (SQLite); erasures are rare, so each is timed on its own, not behind the last.
        time.sleep(SCRUB_PAUSE)
        timings.append(_timed(lambda r=request_id: post(f"/api/v1/privacy-requests/{r}/erase")))
    erase = _figures(timings)

    big = subject_with_touchpoints(engine, 100_000, "access")
    before, peak, running = rss(), [rss()], [True]

    def watch() -> None:
        while running[0]:
            peak.append(rss())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    big_ms = _timed(lambda: post(f"/api/v1/privacy-requests/{big}/export"))
    running[0] = False
    watcher.join()
    # Make them erasure requests and erase them too, so that the data set stays as it was.
    with job_session(engine) as session:
        for request_id in (access, big):
            cases.get_request(session, request_id=request_id).kind = "erasure"
    big_erase_ms = _timed(lambda: post(f"/api/v1/privacy-requests/{big}/erase"))
    _timed(lambda: post(f"/api/v1/privacy-requests/{access}/erase"))
    for file in exports.glob("request-*.zip"):
        file.unlink(missing_ok=True)  # the erasure may have taken it already
    vacuum(engine)
    return {
        "export_1000": export,
        "erase_1000": erase,
        "export_100000_ms": round(big_ms),
        "erase_100000_ms": round(big_erase_ms),
        "rss_before_mb": round(before),
        "rss_peak_mb": round(max(peak)),
    }
