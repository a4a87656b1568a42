"""Follow-up rules against hand-built histories, evaluated before, at and after their
boundaries; re-runs never duplicate."""

import pytest
from sqlmodel import select

from crm.core.errors import Invalid
from crm.followups import evaluation, rules
from crm.followups.models import Followup, RuleCreate
from crm.journeys import service as journey_service
from crm.journeys.models import JourneyCreate, MoveRequest
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from tests.factories import make_company, make_contact, make_user
from tests.unit.journeys.history import day, live


@pytest.fixture
def phases(session, journey):
    return {p.key: p for p in journey_service.phases_of(session, journey)}


def rule(session, journey, phase, trigger, days, **fields):
    data = RuleCreate(
        name="Rule",
        journey_id=journey.id,
        phase_ids=[phase.id],
        trigger=trigger,
        days=days,
        title_template="Check in with {name}",
        **fields,
    )
    return rules.create_rule(session, data=data, actor_id=None)


def created(session, made):
    return list(session.exec(select(Followup).where(Followup.rule_id == made.id)).all())


def test_time_in_phase_fires_once_per_stay(session, journey, phases):
    owner = make_user(session)
    contact = make_contact(session, first_name="Rita", last_name="Retained", owner_id=owner.id)
    enrollment = live(
        session, journey, [(0, "conversion"), (10, "retention")], contact_id=contact.id
    )
    made = rule(session, journey, phases["retention"], "time_in_phase", 14, due_in_days=2)
    assert evaluation.evaluate(session, as_of=day(23.9)) == 0  # 13.9 days in retention
    assert evaluation.evaluate(session, as_of=day(24)) == 1
    assert evaluation.evaluate(session, as_of=day(30)) == 0  # the same stay: not again
    (followup,) = created(session, made)
    assert (followup.title, followup.contact_id, followup.assignee_id) == (
        "Check in with Rita Retained",
        contact.id,
        owner.id,
    )
    assert followup.due_at == day(26)
    # a new stay in retention is a new occasion
    live_moves = [(31, "advocacy"), (40, "retention")]
    for at, key in live_moves:
        journey_service.move(
            session,
            enrollment=enrollment,
            data=MoveRequest(at=day(at), phase_id=phases[key].id),
            actor_id=None,
        )
    assert evaluation.evaluate(session, as_of=day(53)) == 0
    assert evaluation.evaluate(session, as_of=day(54)) == 1


def test_quiet_counts_from_the_last_touchpoint_and_fires_once_per_quiet_period(
    session, journey, phases
):
    contact = make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = rule(session, journey, phases["retention"], "quiet", 90)
    assert evaluation.evaluate(session, as_of=day(89)) == 0
    assert evaluation.evaluate(session, as_of=day(90)) == 1
    assert evaluation.evaluate(session, as_of=day(95)) == 0
    touchpoint_service.log_touchpoint(
        session,
        data=TouchpointCreate(contact_id=contact.id, summary="Chat", occurred_at=day(100)),
        actor_id=None,
    )
    assert evaluation.evaluate(session, as_of=day(189)) == 0  # 89 quiet days since the touchpoint
    assert evaluation.evaluate(session, as_of=day(190)) == 1
    assert len(created(session, made)) == 2


def test_a_company_is_quiet_when_nobody_there_was_spoken_to(session, journey, phases):
    company = make_company(session, name="Stille GmbH")
    person = make_contact(session, company_id=company.id)
    live(session, journey, [(0, "retention")], company_id=company.id)
    made = rule(session, journey, phases["retention"], "quiet", 30)
    touchpoint_service.log_touchpoint(
        session,
        data=TouchpointCreate(contact_id=person.id, summary="Call", occurred_at=day(20)),
        actor_id=None,
    )
    assert evaluation.evaluate(session, as_of=day(49)) == 0
    assert evaluation.evaluate(session, as_of=day(50)) == 1
    (followup,) = created(session, made)
    assert (followup.company_id, followup.title) == (company.id, "Check in with Stille GmbH")


def test_scope_and_assignee(session, journey, phases):
    named = make_user(session)
    retail, other = make_contact(session, segment="Retail"), make_contact(session, segment="B2B")
    for contact in (retail, other):
        live(session, journey, [(0, "retention")], contact_id=contact.id)
    live(session, journey, [(0, "advocacy")], contact_id=make_contact(session, segment="Retail").id)
    made = rule(
        session,
        journey,
        phases["retention"],
        "time_in_phase",
        5,
        segment="Retail",
        assignee_mode="user",
        assignee_id=named.id,
    )
    assert evaluation.evaluate(session, as_of=day(10)) == 1
    (followup,) = created(session, made)
    assert (followup.contact_id, followup.assignee_id) == (retail.id, named.id)


def test_inactive_rules_and_left_subjects_create_nothing(session, journey, phases):
    contact = make_contact(session)
    live(session, journey, [(0, "retention"), (3, "churned")], contact_id=contact.id)
    rule(session, journey, phases["retention"], "time_in_phase", 1)
    rule(session, journey, phases["retention"], "quiet", 1, is_active=False)
    assert evaluation.evaluate(session, as_of=day(10)) == 0


def test_bad_rules_are_refused(session, journey, phases):
    other = journey_service.create_journey(
        session, data=JourneyCreate(name="Other", template="classic"), actor_id=None
    )
    foreign = journey_service.phases_of(session, other)[0]
    with pytest.raises(Invalid):
        rule(session, journey, foreign, "quiet", 10)
    with pytest.raises(Invalid):
        rule(session, journey, phases["retention"], "quiet", 10, assignee_mode="user")
    with pytest.raises(ValueError):
        RuleCreate(name="x", journey_id=journey.id, trigger="quiet", days=-1, title_template="x")


def test_the_default_rules_follow_the_classic_journey(session):
    rules.seed_default_rules(session)
    rules.seed_default_rules(session)  # once
    names = [r.name for r in rules.list_rules(session)]
    assert names == [
        "Ask a promoter for a review",
        "Call a detractor",
        "Loyalty check-in",
        "Onboarding check-in",
        "Renewal talk",
    ]


def test_time_in_phase_catches_up_for_a_week_but_not_for_years(session, journey, phases):
    recent, old = make_contact(session), make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=recent.id)
    live(session, journey, [(-300, "retention")], contact_id=old.id)
    made = rule(session, journey, phases["retention"], "time_in_phase", 14)
    # day 20: the recent stay reached 14 days 6 days ago, the old one 286 days ago
    assert evaluation.evaluate(session, as_of=day(20)) == 1
    assert [f.contact_id for f in created(session, made)] == [recent.id]


def test_a_missed_moment_is_not_caught_up_after_the_window(session, journey, phases):
    contact = make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=contact.id)
    rule(session, journey, phases["retention"], "time_in_phase", 14)
    assert evaluation.evaluate(session, as_of=day(21)) == 0  # 7 days after the moment: too late
