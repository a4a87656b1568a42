"""The NPS, date, won-deal and cadence triggers, several phases per rule, and the actions
(a suggested channel, the least busy account manager, a move), against hand-built
histories evaluated before, at and after their boundaries."""

from datetime import date

import pytest
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.models import CompanyUpdate
from crm.core.errors import Invalid
from crm.deals import service as deal_service
from crm.deals.models import DealContactIn, DealCreate, DealUpdate, PipelineCreate
from crm.followups import evaluation, rules
from crm.followups.models import Followup, FollowupStatus, RuleCreate, RuleUpdate
from crm.journeys import service as journey_service
from crm.journeys.models import Cause, JourneyCreate
from crm.touchpoints.models import Channel
from crm.users.models import Role
from tests.factories import log_touchpoint, make_company, make_contact, make_user
from tests.unit.journeys.history import day, live


@pytest.fixture
def phases(session, journey):
    return {p.key: p for p in journey_service.phases_of(session, journey)}


def rule(session, journey, keys, phases, **fields):
    data = RuleCreate(
        name="Rule",
        journey_id=journey.id,
        phase_ids=[phases[key].id for key in keys],
        title_template="Talk to {name}",
        **fields,
    )
    return rules.create_rule(session, data=data, actor_id=None)


def created(session, made):
    query = select(Followup).where(Followup.rule_id == made.id).order_by(Followup.id)
    return list(session.exec(query).all())


def test_nps_fires_once_per_answer_in_its_range(session, journey, phases):
    low, high = make_contact(session), make_contact(session)
    for contact in (low, high):
        live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = rule(session, journey, ["retention"], phases, trigger="nps", nps_at_most=6)
    log_touchpoint(session, contact_id=low.id, channel="survey", nps=6, occurred_at=day(10))
    log_touchpoint(session, contact_id=high.id, channel="survey", nps=7, occurred_at=day(10))
    assert evaluation.evaluate(session, as_of=day(9.9)) == 0  # not answered yet
    assert evaluation.evaluate(session, as_of=day(10)) == 1
    assert evaluation.evaluate(session, as_of=day(12)) == 0
    assert [f.contact_id for f in created(session, made)] == [low.id]
    # a second low answer is a new occasion; one given too long ago is left alone
    log_touchpoint(session, contact_id=low.id, channel="survey", nps=2, occurred_at=day(20))
    assert evaluation.evaluate(session, as_of=day(27.1)) == 0  # 7.1 days after it
    assert evaluation.evaluate(session, as_of=day(26)) == 1


def test_nps_range_and_outside_the_phases(session, journey, phases):
    passive, elsewhere = make_contact(session), make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=passive.id)
    live(session, journey, [(0, "consideration")], contact_id=elsewhere.id)
    made = rule(
        session, journey, ["retention"], phases, trigger="nps", nps_at_least=7, nps_at_most=8
    )
    for contact, score in ((passive, 8), (elsewhere, 8), (passive, 9)):
        log_touchpoint(session, contact_id=contact.id, nps=score, occurred_at=day(5))
    assert evaluation.evaluate(session, as_of=day(6)) == 1
    assert [f.contact_id for f in created(session, made)] == [passive.id]


def test_company_renewal_counts_down_from_n_days_before(session, journey, phases):
    company = make_company(session, renewal_date=date(2026, 3, 1))
    live(session, journey, [(0, "retention")], company_id=company.id)
    made = rule(
        session,
        journey,
        ["retention"],
        phases,
        trigger="date",
        date_field="company_renewal",
        days=30,
    )
    assert evaluation.evaluate(session, as_of=day(28)) == 0  # 29 January: 31 days before
    assert evaluation.evaluate(session, as_of=day(29)) == 1  # 30 January: 30 days before
    assert evaluation.evaluate(session, as_of=day(59)) == 0  # 1 March: the same date
    assert evaluation.evaluate(session, as_of=day(60)) == 0  # passed
    # renewed for another year: a new date is a new occasion
    contact_service.update_company(
        session, company=company, data=CompanyUpdate(renewal_date=date(2027, 3, 1)), actor_id=None
    )
    assert evaluation.evaluate(session, as_of=day(394)) == 1
    assert [f.company_id for f in created(session, made)] == [company.id, company.id]


@pytest.fixture
def pipeline(session):
    return deal_service.create_pipeline(session, data=PipelineCreate(name="Plain"), actor_id=None)


def deal(session, pipeline, **fields):
    data = DealCreate(title="Licence", pipeline_id=pipeline.id, **fields)
    return deal_service.create_deal(session, data=data, actor_id=None)


def test_a_deal_renewal_reaches_its_company_or_its_people(session, journey, phases, pipeline):
    company = make_company(session)
    person = make_contact(session)
    live(session, journey, [(0, "retention")], company_id=company.id)
    live(session, journey, [(0, "retention")], contact_id=person.id)
    with_company = deal(session, pipeline, company_id=company.id, renewal_date=date(2026, 2, 1))
    with_person = deal(
        session,
        pipeline,
        contacts=[DealContactIn(contact_id=person.id)],
        renewal_date=date(2026, 2, 5),
    )
    made = rule(
        session, journey, ["retention"], phases, trigger="date", date_field="deal_renewal", days=10
    )
    assert evaluation.evaluate(session, as_of=day(21)) == 1  # 22 January: the first only
    assert evaluation.evaluate(session, as_of=day(26)) == 1
    followups = created(session, made)
    assert [(f.company_id, f.contact_id, f.deal_id) for f in followups] == [
        (company.id, None, with_company.id),
        (None, person.id, with_person.id),
    ]
    deal_service.update_deal(
        session, deal=with_company, data=DealUpdate(renewal_date=date(2027, 2, 1)), actor_id=None
    )
    assert evaluation.evaluate(session, as_of=day(30)) == 0


def test_n_days_after_a_deal_was_won(session, journey, phases, pipeline):
    company = make_company(session)
    live(session, journey, [(0, "retention")], company_id=company.id)
    won, still_open = (
        deal(session, pipeline, company_id=company.id),
        deal(session, pipeline, company_id=company.id),
    )
    won.stage_since = day(0)  # opened back then
    deal_service.win_deal(session, deal=won, at=day(3), actor_id=None)
    made = rule(session, journey, [], phases, trigger="deal_won", days=30)
    assert evaluation.evaluate(session, as_of=day(32.9)) == 0
    assert evaluation.evaluate(session, as_of=day(33)) == 1
    assert evaluation.evaluate(session, as_of=day(34)) == 0
    (followup,) = created(session, made)
    assert (followup.company_id, followup.deal_id) == (company.id, won.id)
    assert still_open.status == "open"


def test_cadence_fires_once_per_round_and_a_missed_round_once(session, journey, phases):
    contact = make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = rule(session, journey, ["retention"], phases, trigger="cadence", days=30)
    assert evaluation.evaluate(session, as_of=day(29.9)) == 0
    assert evaluation.evaluate(session, as_of=day(30)) == 1
    assert evaluation.evaluate(session, as_of=day(59)) == 0
    assert evaluation.evaluate(session, as_of=day(60)) == 1
    # down for two rounds: one follow-up for the current round, not one per missed round
    assert evaluation.evaluate(session, as_of=day(150)) == 1
    assert evaluation.evaluate(session, as_of=day(150)) == 0
    assert len(created(session, made)) == 3


def test_several_phases_and_every_phase(session, journey, phases):
    people = {key: make_contact(session) for key in ("retention", "advocacy", "awareness")}
    for key, person in people.items():
        live(session, journey, [(0, key)], contact_id=person.id)
    two = rule(session, journey, ["retention", "advocacy"], phases, trigger="time_in_phase", days=3)
    every = rule(session, journey, [], phases, trigger="time_in_phase", days=3)
    assert evaluation.evaluate(session, as_of=day(3)) == 5
    assert {f.contact_id for f in created(session, two)} == {
        people["retention"].id,
        people["advocacy"].id,
    }
    assert len(created(session, every)) == 3


def test_a_promoter_moves_on_to_advocacy_with_a_suggested_channel(session, journey, phases):
    promoter = make_contact(session)
    enrollment = live(session, journey, [(0, "retention")], contact_id=promoter.id)
    email = session.exec(select(Channel).where(Channel.key == "email")).one()
    made = rule(
        session,
        journey,
        ["retention"],
        phases,
        trigger="nps",
        nps_at_least=9,
        channel_id=email.id,
        move_to_phase_id=phases["advocacy"].id,
    )
    log_touchpoint(session, contact_id=promoter.id, nps=10, occurred_at=day(4))
    assert evaluation.evaluate(session, as_of=day(5)) == 1
    session.refresh(enrollment)
    assert enrollment.phase_id == phases["advocacy"].id
    last = journey_service.transitions_of(session, enrollment=enrollment)[-1]
    assert (last.cause, last.reason, last.at) == (Cause.RULE, "Rule", day(5))
    (followup,) = created(session, made)
    assert followup.channel_id == email.id
    assert evaluation.evaluate(session, as_of=day(5)) == 0  # out of the rule's phase now


def least_busy_rule(session, journey, phases):
    """A day into retention: a follow-up for the least busy account manager."""
    return rule(
        session,
        journey,
        ["retention"],
        phases,
        trigger="time_in_phase",
        days=1,
        assignee_mode="least_busy",
    )


def test_least_busy_account_manager_takes_each_new_follow_up(session, journey, phases):
    busy = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    idle = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    make_user(session, roles=(Role.SALES_REP,))  # not an account manager
    owner = make_user(session)
    loaded = make_contact(session)
    for n in range(2):
        session.add(
            Followup(contact_id=loaded.id, title=f"x{n}", due_at=day(1), assignee_id=busy.id)
        )
    customers = [make_contact(session, owner_id=owner.id) for _ in range(4)]
    for contact in customers:
        live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = least_busy_rule(session, journey, phases)
    assert evaluation.evaluate(session, as_of=day(1)) == 4
    # idle had 0 and busy 2: idle takes three, then busy and idle are level at 2 and 3
    assignees = [f.assignee_id for f in created(session, made)]
    assert sorted(assignees) == sorted([idle.id, idle.id, idle.id, busy.id])


def test_without_account_managers_the_owner_keeps_it(session, journey, phases):
    owner = make_user(session)
    away = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
    away.is_active = False
    contact = make_contact(session, owner_id=owner.id)
    live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = least_busy_rule(session, journey, phases)
    assert evaluation.evaluate(session, as_of=day(1)) == 1
    assert created(session, made)[0].assignee_id == owner.id


def test_impossible_rules_are_refused(session, journey, phases):
    def refused(field, **fields):
        with pytest.raises(Invalid) as caught:
            rule(session, journey, ["retention"], phases, **fields)
        assert caught.value.field == field

    refused("days", trigger="quiet")
    refused("nps_at_most", trigger="nps")
    refused("nps_at_least", trigger="nps", nps_at_least=9, nps_at_most=6)
    refused("date_field", trigger="date", days=30)
    refused("channel_id", trigger="quiet", days=5, channel_id=999_999)
    other = journey_service.create_journey(
        session, data=JourneyCreate(name="Elsewhere", template="classic"), actor_id=None
    )
    foreign = journey_service.phases_of(session, other)[-1]
    refused("move_to_phase_id", trigger="quiet", days=5, move_to_phase_id=foreign.id)
    for bad in ({"nps_at_most": 11}, {"nps_at_least": -1}, {"days": 0}, {"due_in_days": -1}):
        with pytest.raises(ValueError):
            RuleCreate(name="x", journey_id=journey.id, trigger="nps", title_template="x", **bad)


def test_update_replaces_phases_and_keeps_the_rule_consistent(session, journey, phases):
    made = rule(session, journey, ["retention"], phases, trigger="quiet", days=10)
    rules.update_rule(
        session,
        rule=made,
        data=RuleUpdate(trigger="nps", nps_at_most=6, phase_ids=[phases["advocacy"].id]),
        actor_id=None,
    )
    assert (made.trigger, made.days, made.nps_at_most) == ("nps", None, 6)
    assert rules.phase_ids_of(session, [made.id])[made.id] == [phases["advocacy"].id]
    with pytest.raises(Invalid):
        rules.update_rule(session, rule=made, data=RuleUpdate(trigger="cadence"), actor_id=None)


def test_done_follow_ups_keep_their_occasion(session, journey, phases):
    contact = make_contact(session)
    live(session, journey, [(0, "retention")], contact_id=contact.id)
    made = rule(session, journey, ["retention"], phases, trigger="time_in_phase", days=2)
    assert evaluation.evaluate(session, as_of=day(2)) == 1
    (followup,) = created(session, made)
    followup.status = FollowupStatus.DONE
    session.flush()
    assert evaluation.evaluate(session, as_of=day(3)) == 0
