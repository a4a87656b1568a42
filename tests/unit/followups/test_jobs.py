"""The scheduled evaluation with real transactions: overlapping runs never duplicate, and
a run that fails half-way leaves nothing behind for the next one to trip over."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from alembic import command
from sqlmodel import func, select

from crm.cli import alembic_config
from crm.contacts import service as contact_service
from crm.contacts.models import ContactCreate
from crm.core.db import job_session, make_engine, utcnow
from crm.followups import evaluation, jobs
from crm.followups.models import Followup, FollowupRule, FollowupRun
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate
from crm.touchpoints import service as touchpoint_service
from tests.conftest import fresh_database

PEOPLE = 40


@pytest.fixture
def engine(tmp_path):
    """A database of its own with PEOPLE customers 20 days into retention and two rules."""
    with fresh_database(tmp_path, "rules") as url:
        command.upgrade(alembic_config(url), "head")
        engine = make_engine(url)
        with job_session(engine) as session:
            touchpoint_service.seed_defaults(session)
            journey_service.seed_defaults(session)
            journey = journey_service.list_journeys(session)[0]
            phases = {p.key: p for p in journey_service.phases_of(session, journey)}
            for n in range(PEOPLE):
                contact = contact_service.create_contact(
                    session, data=ContactCreate(first_name="P", last_name=f"N{n}"), actor_id=None
                )
                data = EnrollmentCreate(
                    journey_id=journey.id,
                    phase_id=phases["retention"].id,
                    contact_id=contact.id,
                    at=utcnow() - timedelta(days=20),
                )
                journey_service.enroll(session, data=data, actor_id=None)
            for name, trigger in (("Fortnight", "time_in_phase"), ("Quiet", "quiet")):
                session.add(
                    FollowupRule(
                        name=name,
                        journey_id=journey.id,
                        trigger=trigger,
                        days=14,
                        title_template=name,
                    )
                )
        yield engine
        engine.dispose()


def count(engine):
    with job_session(engine) as session:
        return session.exec(select(func.count(Followup.id))).one()


def test_overlapping_runs_never_create_a_follow_up_twice(engine):
    start = Barrier(2)

    def run():
        start.wait()
        return jobs.evaluate_rules(lambda: job_session(engine))

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: run(), range(2)))
    assert [r.error for r in runs] == [None, None]
    assert sum(r.created for r in runs) == 2 * PEOPLE
    assert count(engine) == 2 * PEOPLE
    assert jobs.evaluate_rules(lambda: job_session(engine)).created == 0  # a catch-up run


def test_a_run_that_fails_half_way_leaves_nothing_and_the_next_completes(engine, monkeypatch):
    apply = evaluation._apply
    calls = []

    def second_rule_fails(session, rule, phase_ids, as_of):
        calls.append(rule.name)
        if len(calls) == 2:
            raise RuntimeError("the process died here")
        return apply(session, rule, phase_ids, as_of)

    monkeypatch.setattr(evaluation, "_apply", second_rule_fails)
    failed = jobs.evaluate_rules(lambda: job_session(engine))
    assert (failed.error, failed.created, failed.finished_at is not None) == (
        "RuntimeError",
        0,
        True,
    )
    assert count(engine) == 0  # the first rule's follow-ups went with the failed run
    monkeypatch.setattr(evaluation, "_apply", apply)
    assert jobs.evaluate_rules(lambda: job_session(engine)).created == 2 * PEOPLE
    with job_session(engine) as session:
        recorded = session.exec(select(FollowupRun).order_by(FollowupRun.id)).all()
    assert [(r.error, r.created) for r in recorded] == [("RuntimeError", 0), (None, 2 * PEOPLE)]
