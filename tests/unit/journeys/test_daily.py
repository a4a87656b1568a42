"""The journey reports' figures kept per day (database triggers) answer as counting the
rows does, while touchpoints and stays change."""

from dataclasses import replace
from datetime import UTC, datetime, time

import pytest
from alembic import command
from sqlalchemy import func, select, text

from crm.cli import alembic_config
from crm.contacts import service as contact_service
from crm.core import tallies
from crm.core.db import job_session, make_engine
from crm.journeys import analytics, daily, journey_map, service, stay_lengths
from crm.journeys.jobs import settle_daily_figures
from crm.journeys.models import Enrollment, MoveRequest, Phase, PhaseTransition, PhaseUpdate
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate, TouchpointUpdate
from tests.conftest import fresh_database
from tests.factories import make_company, make_contact
from tests.unit.journeys.history import day, live


def midnight(n: float) -> datetime:
    return datetime.combine(day(n).date(), time.min, UTC)


PERIODS = [(-60, 200), (0, 30), (12, 46), (45, 46), (60, 61), (61, 65)]


def touch(session, contact, at, channel, sentiment=None, nps=None):
    data = TouchpointCreate(
        contact_id=contact.id,
        summary="Touch",
        channel=channel,
        occurred_at=day(at),
        sentiment=sentiment,
        nps=nps,
    )
    return touchpoint_service.log_touchpoint(session, data=data, actor_id=None)


def reports(session, within):
    phases = [p.id for p in within.phases]
    channels = list(range(1, 50))
    initiators = ["company", "customer", "third_party"]
    touched = journey_map._touchpoints(session, within, phases, channels, initiators)
    return (
        analytics.funnel(session, within),
        stay_lengths.time_in_phase(session, within),
        analytics._nps(session, within),
        analytics._joined(session, within),
        analytics._churn(session, within),
        {  # a kept key whose touchpoints all went shows zeros, as if absent
            (r.phase_id, r.channel_id, r.initiated_by): tuple(int(v or 0) for v in r[3:])
            for r in touched
            if r.touchpoints
        },
    )


def assert_exits_know_customers(session):
    """Each exit says whether the subject had bought before it (what churn counts) and
    when it next left with the same status, and each enrollment how many days after it
    began it bought (time to close)."""
    for started, bought, days in session.execute(
        select(Enrollment.started_at, Enrollment.purchased_at, Enrollment.days_to_purchase)
    ):
        assert days == (
            None if bought is None else pytest.approx((bought - started).total_seconds() / 86400)
        )
    exits = session.execute(
        select(PhaseTransition, Enrollment.purchased_at)
        .join(Enrollment, Enrollment.id == PhaseTransition.enrollment_id)
        .where(PhaseTransition.to_phase_id.is_(None))
        .order_by(PhaseTransition.at, PhaseTransition.id)
    ).all()
    assert exits
    for i, (step, bought) in enumerate(exits):
        assert step.left_as_customer == (bought is not None and bought < step.at)
        again = [
            later.at
            for later, _ in exits[i + 1 :]
            if (later.enrollment_id, later.status) == (step.enrollment_id, step.status)
        ]
        assert step.reentered_at == (again[0] if again else None)


def assert_kept(session, journey):
    """Every period's reports from the kept figures equal those counted from the rows,
    and each kept figure equals a fresh count, before and after settling."""
    session.flush()
    assert_exits_know_customers(session)
    for settled in (False, True):
        if settled:
            for tally in daily.DAILY:
                tallies.settle(session, tally)
        assert {t.name: tallies.check(session, t) for t in daily.DAILY} == {
            t.name: [] for t in daily.DAILY
        }
        for first, last in PERIODS:
            within = analytics.scope(
                session, journey=journey, since=midnight(first), until=midnight(last), segment=None
            )
            assert within.daily
            kept = reports(session, within)
            assert kept == reports(session, replace(within, daily=False))
            if (first, last) == PERIODS[0]:  # the whole history: every figure has rows
                funnel, stays, nps, (closes, cohorts), customers, touched = kept
                assert sum(f.entered for f in funnel.values())
                assert sum(s.stays for s in stays.values()) and nps[2] and touched
                assert closes and cohorts and customers[0]


def test_kept_figures_follow_moves_exits_touchpoints_and_deletions(session, journey, monkeypatch):
    monkeypatch.setattr(tallies, "CHUNK", 3)  # settling goes a few changes at a time
    s1, s2, s3, s4 = (make_contact(session) for _ in range(4))
    keys = {p.key: p.id for p in service.phases_of(session, journey)}
    first = live(
        session,
        journey,
        [(0, "awareness"), (10, "consideration"), (20, "conversion"), (25, "retention")],
        contact_id=s1.id,
    )
    lost = live(session, journey, [(5, "awareness"), (15, "lost")], contact_id=s2.id)
    live(
        session,
        journey,
        [(35, "awareness"), (40, "consideration"), (45.5, "awareness"), (50, "consideration")],
        contact_id=s3.id,
    )
    live(session, journey, [(-50, "awareness"), (5, "conversion"), (8, "won")], contact_id=s4.id)
    live(session, journey, [(1, "awareness")], company_id=make_company(session).id)
    # a customer once consideration counts as a purchase (below)
    live(
        session,
        journey,
        [(0, "awareness"), (3, "consideration"), (7, "churned")],
        contact_id=make_contact(session).id,
    )
    touch(session, s1, 2, "call", sentiment=1)
    touch(session, s1, 12, "email", sentiment=-2)
    survey = touch(session, s1, 30, "survey", nps=10)
    touch(session, s3, 45, "survey", sentiment=2, nps=6)
    touch(session, s4, 6, "call", nps=8)
    assert_kept(session, journey)

    # later steps fill in where earlier stays led; a churn ends s1's journey
    churn = MoveRequest(at=day(60), exit="churned", exit_reason="price")
    service.move(session, enrollment=first, data=churn, actor_id=None)
    touchpoint_service.update_touchpoint(
        session, touchpoint=survey, data=TouchpointUpdate(nps=3, sentiment=-1), actor_id=None
    )
    assert_kept(session, journey)

    # s1 comes back and churns again: once in a period that holds both churns
    for step in (
        MoveRequest(at=day(62), phase_id=keys["retention"]),
        MoveRequest(at=day(64), exit="churned", exit_reason="service"),
    ):
        service.move(session, enrollment=first, data=step, actor_id=None)
    for first_day, last_day, churned in ((-60, 200, 1), (60, 61, 1), (61, 65, 1), (0, 30, 0)):
        within = analytics.scope(
            session,
            journey=journey,
            since=midnight(first_day),
            until=midnight(last_day),
            segment=None,
        )
        assert analytics._churn(session, within)[1] == churned
    assert_kept(session, journey)

    # s2 comes back after the loss, and reaches a purchase phase
    service.move(
        session,
        enrollment=lost,
        data=MoveRequest(at=day(18), phase_id=keys["conversion"]),
        actor_id=None,
    )
    assert_kept(session, journey)

    # another kind of phase counts as a purchase: every enrollment's purchase moves
    churned = (midnight(0), midnight(30))
    within = analytics.scope(
        session, journey=journey, since=churned[0], until=churned[1], segment=None
    )
    assert analytics._churn(session, within)[1] == 0
    service.update_phase(
        session,
        phase=session.get(Phase, keys["consideration"]),
        data=PhaseUpdate(kind="purchase"),
        actor_id=None,
    )
    assert analytics._churn(session, within)[1] == 1
    assert_kept(session, journey)

    # reordering phases changes which steps count as moving on, not the kept rows
    phases = service.phases_of(session, journey, archived=True)
    service.reorder_phases(
        session, journey=journey, phase_ids=[p.id for p in reversed(phases)], actor_id=None
    )
    assert_kept(session, journey)

    touchpoint_service.delete_touchpoint(session, touchpoint=survey, actor_id=None)
    contact_service.delete_contact(session, contact=s3, actor_id=None)  # cascades
    session.expire_all()
    assert_kept(session, journey)


@pytest.mark.parametrize("lengths", [[1, 3, 8, 10, 20, 35, 61, 62, 100, 200, 400, 450]])
def test_percentiles_from_the_finer_kept_bands(session, journey, lengths):
    for length in lengths:
        live(
            session,
            journey,
            [(-500, "awareness"), (-500 + length + 0.25, "consideration")],
            contact_id=make_contact(session).id,
        )
    within = analytics.scope(
        session, journey=journey, since=midnight(-600), until=midnight(1), segment=None
    )
    kept = stay_lengths.time_in_phase(session, within)
    assert kept == stay_lengths.time_in_phase(session, replace(within, daily=False))
    awareness = kept[within.phases[0].id]
    assert (awareness.median_days, awareness.p90_days) == (48.25, 400.25)


def test_a_segment_or_a_part_of_a_day_is_counted_from_the_rows(session, journey):
    for since, until, segment in (
        (midnight(0), midnight(10), "Retail"),
        (day(0), midnight(10), None),
        (midnight(0), day(10), None),
    ):
        within = analytics.scope(
            session, journey=journey, since=since, until=until, segment=segment
        )
        assert not within.daily
    assert analytics.scope(
        session, journey=journey, since=midnight(0), until=midnight(10), segment=""
    ).daily


def test_the_job_settles_what_others_committed(engine):
    with job_session(engine) as session:
        journey = service.list_journeys(session)[0]
        contact = make_contact(session, first_name="Daily")
        live(session, journey, [(0, "awareness"), (3, "consideration")], contact_id=contact.id)
        touch(session, contact, 1, "call", sentiment=2)
    # two stays begun, one ended, a touchpoint, the enrollment
    assert settle_daily_figures(engine) >= 5
    with job_session(engine) as session:
        for tally in daily.DAILY:
            assert session.scalar(select(func.count()).select_from(tally.changes)) == 0
            assert tallies.check(session, tally) == []
        contact_service.delete_contact(
            session, contact=session.get(type(contact), contact.id), actor_id=None
        )
    assert settle_daily_figures(engine) >= 4
    with job_session(engine) as session:
        assert [tallies.check(session, tally) for tally in daily.DAILY] == [[]] * len(daily.DAILY)


def test_reports_plan_each_query_for_their_period(session, journey):
    """On PostgreSQL a report's queries are planned for their own values; a generic
    plan, chosen for a statement run often, walks the wrong index (see analytics.scope)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        session.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    within = analytics.scope(
        session, journey=journey, since=midnight(0), until=midnight(1), segment=None
    )
    assert within.daily
    if postgres:
        assert session.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


def test_the_churn_migration_counts_the_churns_there_are(tmp_path):
    """Exits made before the migration learn when their enrollment next left with the
    same status, and the kept churns start from the exits there are."""
    with fresh_database(tmp_path, "churns") as url:
        config = alembic_config(url)
        # Made with today's models, then taken back to the revision before churn_figures:
        # its downgrade leaves the exits as the code before it did (no reentered_at).
        command.upgrade(config, "head")
        engine = make_engine(url)
        try:
            with job_session(engine) as session:
                service.seed_defaults(session)
                journey = service.list_journeys(session)[0]
                back_twice = [
                    (12, "retention"),
                    (14, "churned"),
                    (15, "retention"),
                    (15, "churned"),
                ]
                for steps in (
                    [(0, "awareness"), (5, "conversion"), (10, "churned"), *back_twice],
                    [(0, "awareness"), (2, "lost"), (3, "awareness"), (4, "lost")],
                    [(0, "awareness"), (5, "conversion"), (8, "churned")],
                ):
                    live(session, journey, steps, contact_id=make_contact(session).id)
            command.downgrade(config, "47d277542ae0")
            command.upgrade(config, "head")
            with job_session(engine) as session:
                assert_exits_know_customers(session)
                assert tallies.check(session, daily.CHURNS) == []
                assert sum(n for (n,) in tallies.kept(session, daily.CHURNS).values()) == 4
                within = analytics.scope(
                    session, journey=journey, since=midnight(0), until=midnight(20), segment=None
                )
                assert analytics._churn(session, within) == (2, 2)
        finally:
            engine.dispose()
