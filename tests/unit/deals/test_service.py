"""Deals: money, stages and their history, winning, losing, reopening, and the won deal's
move in the journey."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlmodel import select

from crm.core.errors import Conflict, Invalid
from crm.deals import service
from crm.deals.models import (
    Deal,
    DealContactIn,
    DealCreate,
    DealUpdate,
    PipelineCreate,
    PipelineUpdate,
)
from crm.journeys import service as journey_service
from crm.journeys.models import Cause, EnrollmentCreate, Journey, MoveRequest
from tests.factories import make_company, make_contact


def new_deal(session, **fields):
    return service.create_deal(session, data=DealCreate(title="Deal", **fields), actor_id=None)


class TestMoney:
    def test_amounts_stay_exact(self, session):
        deals = [new_deal(session, amount=Decimal("0.1")), new_deal(session, amount="0.2")]
        session.expire_all()
        total = sum(session.get(Deal, d.id).amount for d in deals)
        assert total == Decimal("0.3")

    @pytest.mark.parametrize(
        ("amount", "currency"), [("12.5", "JPY"), ("12.345", "EUR"), ("1.2345", "KWD")]
    )
    def test_no_more_decimals_than_the_currency_has(self, session, amount, currency):
        with pytest.raises(Invalid) as error:
            new_deal(session, amount=amount, currency=currency)
        assert error.value.field == "amount"
        assert new_deal(session, amount="1.234", currency="KWD").amount == Decimal("1.234")

    @pytest.mark.parametrize("value", [{"amount": "-1"}, {"amount": "ten"}, {"currency": "EURO"}])
    def test_bad_amounts_and_currencies(self, value):
        with pytest.raises(ValidationError):
            DealCreate(title="Deal", **value)

    def test_currency_codes_are_normalised(self):
        assert DealCreate(title="Deal", currency=" usd ").currency == "USD"


class TestPipelines:
    def test_the_default_pipeline_follows_the_classic_journey(self, session, pipeline, stages):
        classic = session.exec(select(Journey).where(Journey.name == "Classic")).one()
        assert (pipeline.name, pipeline.journey_id, pipeline.move_on_won) == (
            "Sales",
            classic.id,
            True,
        )
        assert [s.kind for s in stages.values()] == ["open"] * 4 + ["won", "lost"]
        assert stages["proposal"].probability == 50

    def test_a_pipeline_needs_each_kind_of_stage(self, session):
        with pytest.raises(Invalid):
            service.create_pipeline(
                session,
                data=PipelineCreate(name="Only open", stages=[{"name": "Talking"}]),
                actor_id=None,
            )

    def test_names_and_journeys_are_checked(self, session):
        with pytest.raises(Invalid):
            service.create_pipeline(session, data=PipelineCreate(name="sales"), actor_id=None)
        with pytest.raises(Invalid):
            service.create_pipeline(
                session, data=PipelineCreate(name="New", journey_id=9999), actor_id=None
            )


class TestDeals:
    def test_defaults(self, session, pipeline, stages):
        deal = new_deal(session)
        assert (deal.pipeline_id, deal.stage_id, deal.status) == (
            pipeline.id,
            stages["qualified"].id,
            "open",
        )

    def test_a_stage_of_another_pipeline_is_refused(self, session, stages):
        other = service.create_pipeline(session, data=PipelineCreate(name="Other"), actor_id=None)
        foreign = service.stages_of(session, other)[0]
        with pytest.raises(Invalid):
            new_deal(session, stage_id=foreign.id)
        deal = new_deal(session)
        with pytest.raises(Invalid):
            service.move_deal(session, deal=deal, stage_id=foreign.id, actor_id=None)
        assert deal.stage_id == stages["qualified"].id

    def test_moves_keep_the_history(self, session, stages):
        deal = new_deal(session)
        start = deal.stage_since
        service.move_deal(
            session,
            deal=deal,
            stage_id=stages["proposal"].id,
            at=start + timedelta(days=3),
            actor_id=None,
        )
        service.move_deal(
            session,
            deal=deal,
            stage_id=stages["needs_analysis"].id,
            at=start + timedelta(days=5),
            actor_id=None,
        )
        history = service.stage_history(session, deal=deal)
        assert [(h.to_stage_id, h.until) for h in history] == [
            (stages["qualified"].id, start + timedelta(days=3)),
            (stages["proposal"].id, start + timedelta(days=5)),
            (stages["needs_analysis"].id, None),
        ]
        with pytest.raises(Invalid):  # before the last change
            service.move_deal(
                session, deal=deal, stage_id=stages["proposal"].id, at=start, actor_id=None
            )

    def test_winning_and_losing_close_it(self, session, stages):
        deal = new_deal(session)
        service.win_deal(session, deal=deal, actor_id=None)
        assert (deal.status, deal.stage_id, deal.closed_at is not None) == (
            "won",
            stages["won"].id,
            True,
        )
        with pytest.raises(Conflict):
            service.move_deal(session, deal=deal, stage_id=stages["proposal"].id, actor_id=None)
        with pytest.raises(Conflict):
            service.lose_deal(session, deal=deal, reason="price", actor_id=None)

    def test_moving_to_a_closing_stage_closes_it(self, session, stages):
        won, lost = new_deal(session), new_deal(session)
        service.move_deal(session, deal=won, stage_id=stages["won"].id, actor_id=None)
        with pytest.raises(Invalid):
            service.move_deal(session, deal=lost, stage_id=stages["lost"].id, actor_id=None)
        service.move_deal(
            session, deal=lost, stage_id=stages["lost"].id, lost_reason="timing", actor_id=None
        )
        assert (won.status, lost.status, lost.stage_id) == ("won", "lost", stages["lost"].id)

    def test_losing_needs_a_reason_and_a_lost_deal_can_come_back(self, session, stages):
        deal = new_deal(session, stage_id=stages["proposal"].id)
        changes = len(service.stage_history(session, deal=deal))
        with pytest.raises(Invalid):
            service.lose_deal(session, deal=deal, reason=None, actor_id=None)
        with pytest.raises(Invalid):
            service.lose_deal(session, deal=deal, reason="no_such_reason", actor_id=None)
        assert deal.status == "open" and len(service.stage_history(session, deal=deal)) == changes
        service.lose_deal(session, deal=deal, reason="price", note="Too dear", actor_id=None)
        assert (deal.status, deal.stage_id, deal.lost_note) == (
            "lost",
            stages["lost"].id,
            "Too dear",
        )
        service.reopen_deal(session, deal=deal, actor_id=None)
        assert (deal.status, deal.stage_id, deal.lost_reason_id) == (
            "open",
            stages["proposal"].id,
            None,
        )
        with pytest.raises(Conflict):
            service.reopen_deal(session, deal=deal, actor_id=None)

    def test_contacts_with_roles(self, session):
        anna, ben = make_contact(session), make_contact(session)
        deal = new_deal(
            session,
            contacts=[
                DealContactIn(contact_id=anna.id, role="Decision maker"),
                {"contact_id": ben.id},
            ],
        )
        assert {(c.id, link.role) for link, c in service.contacts_of(session, deal)} == {
            (anna.id, "Decision maker"),
            (ben.id, None),
        }
        service.update_deal(
            session,
            deal=deal,
            data=DealUpdate(contacts=[{"contact_id": ben.id, "role": "User"}]),
            actor_id=None,
        )
        assert [(c.id, link.role) for link, c in service.contacts_of(session, deal)] == [
            (ben.id, "User")
        ]
        with pytest.raises(Invalid):
            service.update_deal(
                session,
                deal=deal,
                data=DealUpdate(contacts=[{"contact_id": 999999}]),
                actor_id=None,
            )

    def test_changing_the_currency_checks_the_amount(self, session):
        deal = new_deal(session, amount="10.50")
        with pytest.raises(Invalid):
            service.update_deal(session, deal=deal, data=DealUpdate(currency="JPY"), actor_id=None)
        assert deal.currency == "EUR"


class TestWonDealMovesTheJourney:
    @pytest.fixture
    def journey(self, session, pipeline):
        return session.get(Journey, pipeline.journey_id)

    @pytest.fixture
    def phases(self, session, journey):
        return {p.key: p for p in journey_service.phases_of(session, journey)}

    def enrol(self, session, journey, phase, **subject):
        data = EnrollmentCreate(
            journey_id=journey.id,
            phase_id=phase.id,
            at=datetime.now(UTC) - timedelta(days=30),
            **subject,
        )
        return journey_service.enroll(session, data=data, actor_id=None)

    def test_company_and_contacts_enter_the_first_post_purchase_phase(
        self, session, journey, phases
    ):
        company = make_company(session)
        anna, ben = make_contact(session, company_id=company.id), make_contact(session)
        in_consideration = self.enrol(
            session, journey, phases["consideration"], company_id=company.id
        )
        deal = new_deal(
            session,
            company_id=company.id,
            contacts=[{"contact_id": anna.id}, {"contact_id": ben.id}],
        )
        service.win_deal(session, deal=deal, actor_id=None)
        assert in_consideration.phase_id == phases["retention"].id
        last = journey_service.transitions_of(session, enrollment=in_consideration)[-1]
        assert (last.cause, last.reason) == (Cause.DEAL_WON, "deal won")
        for contact in (anna, ben):  # enrolled where they were not yet
            (enrollment,) = journey_service.enrollments_of(session, contact_id=contact.id)
            assert (enrollment.phase_id, enrollment.status) == (phases["retention"].id, "active")

    def test_no_move_back_for_those_further_on(self, session, journey, phases):
        company = make_company(session)
        advocate = self.enrol(session, journey, phases["advocacy"], company_id=company.id)
        steps = len(journey_service.transitions_of(session, enrollment=advocate))
        service.win_deal(session, deal=new_deal(session, company_id=company.id), actor_id=None)
        assert advocate.phase_id == phases["advocacy"].id
        assert len(journey_service.transitions_of(session, enrollment=advocate)) == steps

    def test_a_churned_customer_comes_back(self, session, journey, phases):
        company = make_company(session)
        churned = self.enrol(session, journey, phases["retention"], company_id=company.id)
        journey_service.move(
            session,
            enrollment=churned,
            data=MoveRequest(
                exit="churned", exit_reason="price", at=datetime.now(UTC) - timedelta(days=1)
            ),
            actor_id=None,
        )
        service.win_deal(session, deal=new_deal(session, company_id=company.id), actor_id=None)
        assert (churned.status, churned.phase_id) == ("active", phases["retention"].id)

    def test_the_pipeline_can_leave_the_journey_alone(self, session, pipeline, journey, phases):
        service.update_pipeline(
            session, pipeline=pipeline, data=PipelineUpdate(move_on_won=False), actor_id=None
        )
        company = make_company(session)
        enrollment = self.enrol(session, journey, phases["consideration"], company_id=company.id)
        service.win_deal(session, deal=new_deal(session, company_id=company.id), actor_id=None)
        assert enrollment.phase_id == phases["consideration"].id
