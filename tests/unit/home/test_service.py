"""Each role's home: what lands in which list, and what stays out."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from crm.core import audit
from crm.deals import service as deal_service
from crm.deals.models import DealCreate
from crm.followups import service as followup_service
from crm.followups.models import FollowupCreate, FollowupRun
from crm.gdpr import cases
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import ConsentAction, ConsentEvent, RequestCreate, RetentionProposal
from crm.home import aftersales, search, service
from crm.home import sales as sales_service
from crm.journeys import service as journey_service
from crm.journeys.models import EnrollmentCreate
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import TouchpointCreate
from crm.users.models import Role
from tests.factories import make_company, make_contact, make_user

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def followup(session, user, *, due, **subject):
    data = FollowupCreate(title="Call back", due_at=due, assignee_id=user.id, **subject)
    return followup_service.create_followup(session, data=data, actor_id=None)


def touch(session, user, *, at, **fields):
    data = TouchpointCreate(summary="Talked", occurred_at=at, **fields)
    return touchpoint_service.log_touchpoint(session, data=data, actor_id=user.id)


def enroll(session, journey, key, *, at, **subject):
    phase = next(p for p in journey_service.phases_of(session, journey) if p.key == key)
    data = EnrollmentCreate(journey_id=journey.id, phase_id=phase.id, at=at, **subject)
    return journey_service.enroll(session, data=data, actor_id=None)


class TestSections:
    def test_a_user_sees_the_sections_of_their_roles_in_order(self, session):
        user = make_user(session, roles=(Role.ADMIN, Role.DPO, Role.SALES_REP))
        found = service.home(session, user=user, time_zone=BERLIN, now=NOW)
        assert found.sections == ["sales", "privacy", "admin"]
        assert found.sales and found.privacy and found.admin and found.account is None


class TestSales:
    def test_overdue_and_today_are_the_users_own(self, session):
        rep, other = make_user(session), make_user(session)
        contact = make_contact(session, first_name="Ada", last_name="Lovelace")
        late = followup(session, rep, due=NOW - timedelta(days=2), contact_id=contact.id)
        today = followup(session, rep, due=NOW + timedelta(hours=3), contact_id=contact.id)
        followup(session, rep, due=NOW + timedelta(days=3), contact_id=contact.id)
        followup(session, other, due=NOW - timedelta(days=1), contact_id=contact.id)
        sales = sales_service.sales_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [f.id for f in sales.overdue] == [late.id]
        assert [f.id for f in sales.today] == [today.id]
        assert sales.overdue[0].subject.name == "Ada Lovelace"

    def test_recently_touched_are_who_the_user_logged_latest_first(self, session):
        rep, other = make_user(session), make_user(session)
        first, second, old = (make_contact(session) for _ in range(3))
        touch(session, rep, at=NOW - timedelta(days=5), contact_id=first.id)
        touch(session, rep, at=NOW - timedelta(days=1), contact_id=second.id)
        touch(session, rep, at=NOW - timedelta(days=3), contact_id=first.id)
        touch(session, rep, at=NOW - timedelta(days=200), contact_id=old.id)
        touch(session, other, at=NOW, contact_id=old.id)
        sales = sales_service.sales_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [c.id for c in sales.recent_contacts] == [second.id, first.id]

    def test_open_deals_by_stage_with_the_stale_ones_marked(self, session):
        rep = make_user(session)
        pipeline = deal_service.list_pipelines(session)[0]
        stages = deal_service.stages_of(session, pipeline)
        fresh = deal_service.create_deal(
            session,
            data=DealCreate(title="Fresh", owner_id=rep.id, next_step="Send offer"),
            actor_id=None,
        )
        stuck = deal_service.create_deal(
            session, data=DealCreate(title="Stuck", owner_id=rep.id), actor_id=None
        )
        stage = stages[0]
        stage.target_days = 10
        stuck.stage_since = NOW - timedelta(days=11)
        fresh.stage_since = NOW - timedelta(days=2)
        deal_service.create_deal(session, data=DealCreate(title="Not mine"), actor_id=None)
        session.flush()
        sales = sales_service.sales_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [(c.stage_id, [d.title for d in c.deals]) for c in sales.open_deals] == [
            (stage.id, ["Fresh", "Stuck"])
        ]
        assert sales.open_deals[0].deals[0].next_step == "Send offer"
        assert [d.title for d in sales.stale_deals] == ["Stuck"]

    def test_open_deals_come_stage_by_stage_next_step_first_up_to_the_cap(
        self, session, monkeypatch
    ):
        monkeypatch.setattr(sales_service, "OPEN_DEALS", 4)
        rep = make_user(session)
        stages = deal_service.stages_of(session, deal_service.list_pipelines(session)[0])
        for title, stage, step in [
            ("Undated", stages[0], None),
            ("Later", stages[0], "2030-02-01"),
            ("Sooner", stages[0], "2030-01-01"),
            ("Second A", stages[1], "2030-03-01"),
            ("Second B", stages[1], None),
        ]:
            data = DealCreate(title=title, owner_id=rep.id, stage_id=stage.id, next_step_date=step)
            deal_service.create_deal(session, data=data, actor_id=None)
        sales = sales_service.sales_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [(c.stage_id, [d.title for d in c.deals]) for c in sales.open_deals] == [
            (stages[0].id, ["Sooner", "Later", "Undated"]),
            (stages[1].id, ["Second A"]),
        ]

    def test_stale_enrollments_are_of_the_users_subjects_past_the_phase_target(
        self, session, journey
    ):
        rep = make_user(session)
        mine = make_contact(session, owner_id=rep.id)
        fresh = make_contact(session, owner_id=rep.id)
        company = make_company(session, owner_id=rep.id)
        enroll(session, journey, "awareness", at=NOW - timedelta(days=31), contact_id=mine.id)
        enroll(session, journey, "awareness", at=NOW - timedelta(days=29), contact_id=fresh.id)
        enroll(session, journey, "retention", at=NOW - timedelta(days=95), company_id=company.id)
        stranger = make_contact(session)
        enroll(session, journey, "awareness", at=NOW - timedelta(days=60), contact_id=stranger.id)
        sales = sales_service.sales_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [
            (e.subject.kind, e.subject.id, e.days_in_phase) for e in sales.stale_enrollments
        ] == [
            ("company", company.id, 95),
            ("contact", mine.id, 31),
        ]


class TestAccount:
    def test_quiet_customers_are_after_sales_subjects_untouched_past_the_target(
        self, session, journey
    ):
        rep = make_user(session)
        quiet, touched, new, prospect = (make_contact(session) for _ in range(4))
        for contact in (quiet, touched):
            enroll(
                session, journey, "retention", at=NOW - timedelta(days=200), contact_id=contact.id
            )
        enroll(session, journey, "retention", at=NOW - timedelta(days=30), contact_id=new.id)
        enroll(session, journey, "awareness", at=NOW - timedelta(days=300), contact_id=prospect.id)
        touch(session, rep, at=NOW - timedelta(days=120), contact_id=quiet.id)
        touch(session, rep, at=NOW - timedelta(days=10), contact_id=touched.id)
        found = aftersales.account_home(session, user=rep, time_zone=BERLIN, now=NOW)
        assert [(q.subject.id, q.quiet_days, q.target_days) for q in found.quiet_customers] == [
            (quiet.id, 120, 90)
        ]
        assert found.quiet_customers[0].last_touch_at == NOW - timedelta(days=120)

    def test_renewals_soonest_first_and_nps_detractors_first(self, session):
        manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
        soon = make_company(session, name="Soon AG", renewal_date=date(2026, 6, 20))
        make_company(session, renewal_date=date(2027, 1, 1))  # too far
        deal = deal_service.create_deal(
            session, data=DealCreate(title="Licence", renewal_date=date(2026, 6, 15)), actor_id=None
        )
        contact = make_contact(session)
        for days, score in ((1, 10), (2, 3), (3, 8), (40, 0)):
            touch(session, manager, at=NOW - timedelta(days=days), contact_id=contact.id, nps=score)
        found = aftersales.account_home(session, user=manager, time_zone=BERLIN, now=NOW)
        assert [(r.kind, r.id) for r in found.renewals] == [("deal", deal.id), ("company", soon.id)]
        assert [(a.score, a.category) for a in found.nps] == [
            (3, "detractor"),
            (10, "promoter"),
            (8, "passive"),
        ]

    def test_the_planner_counts_the_users_groups(self, session):
        manager = make_user(session, roles=(Role.ACCOUNT_MANAGER,))
        contact = make_contact(session)
        for due in (NOW - timedelta(days=1), NOW - timedelta(days=2), NOW + timedelta(hours=2)):
            followup(session, manager, due=due, contact_id=contact.id)
        found = aftersales.account_home(session, user=manager, time_zone=BERLIN, now=NOW)
        assert (found.planner.overdue, found.planner.today) == (2, 1)
        assert len(found.due) == 3


class TestPrivacy:
    def test_requests_by_due_date_and_the_last_months_withdrawals_and_objections(self, session):
        early = cases.create_request(
            session,
            data=RequestCreate(
                kind="access", requester_name="Early", received_at=NOW - timedelta(days=40)
            ),
            actor_id=None,
        )
        late = cases.create_request(
            session,
            data=RequestCreate(kind="erasure", requester_name="Late", received_at=NOW),
            actor_id=None,
        )
        withdrawn, objected, long_ago = (make_contact(session) for _ in range(3))
        purpose = gdpr_service.list_purposes(session)[0]
        for contact, at in (
            (withdrawn, NOW - timedelta(days=3)),
            (long_ago, NOW - timedelta(days=90)),
        ):
            session.add(
                ConsentEvent(
                    contact_id=contact.id,
                    purpose_id=purpose.id,
                    action=ConsentAction.WITHDRAWN,
                    source="form",
                    occurred_at=at,
                )
            )
        objected.objected_at = NOW - timedelta(days=1)
        long_ago.objected_at = NOW - timedelta(days=60)
        session.add(RetentionProposal(contact_id=long_ago.id, rule="lead", last_activity_at=NOW))
        session.flush()
        found = service.privacy_home(session, now=NOW)
        assert [(r.id, r.overdue) for r in found.requests] == [(early.id, True), (late.id, False)]
        assert [w.contact_id for w in found.withdrawals] == [withdrawn.id]
        assert [o.contact_id for o in found.objections] == [objected.id]
        assert found.retention_proposals == 1
        assert found.purposes == len(gdpr_service.list_purposes(session))


class TestAdmin:
    def test_runs_users_and_imports(self, session):
        admin = make_user(session, roles=(Role.ADMIN,))
        session.add(FollowupRun(job="rules", as_of=NOW, started_at=NOW, error="boom"))
        session.flush()
        found = service.admin_home(session, user=admin)
        assert found.runs[0].error == "boom"
        assert admin.id in [u.id for u in found.users]
        assert found.imports == []

    def test_the_checklist_ticks_what_was_done_and_can_be_put_away(self, session):
        admin = make_user(session, roles=(Role.ADMIN,))
        steps = {
            s.key: s.done for s in service.home(session, user=admin, time_zone=BERLIN).checklist
        }
        assert steps == {
            "journeys": False,
            "users": False,
            "import": False,
            "rules": False,
            "purposes": False,
        }
        make_user(session)
        make_contact(session)
        audit.record(session, actor_id=admin.id, action="update", entity_type="phase", entity_id=1)
        steps = {
            s.key: s.done for s in service.home(session, user=admin, time_zone=BERLIN).checklist
        }
        assert steps["users"] and steps["import"] and steps["journeys"]
        assert not steps["rules"]
        service.dismiss_checklist(session, user=admin)
        assert service.home(session, user=admin, time_zone=BERLIN).checklist is None


class TestSearch:
    def test_finds_contacts_companies_and_deals(self, session):
        company = make_company(session, name="Sonnenschein GmbH")
        contact = make_contact(session, first_name="Anna", last_name="Sonne", company_id=company.id)
        make_contact(session, first_name="Bert", last_name="Regen")
        deal = deal_service.create_deal(
            session, data=DealCreate(title="Sonnendeck 2027"), actor_id=None
        )
        found = search.search(session, q=" sonne ")
        assert [h.id for h in found.contacts] == [contact.id]
        assert found.contacts[0].detail == "Sonnenschein GmbH"
        assert [h.url for h in found.companies] == [f"/companies/{company.id}"]
        assert [h.id for h in found.deals] == [deal.id]

    def test_a_single_character_finds_nothing(self, session):
        make_contact(session, first_name="A")
        found = search.search(session, q="a")
        assert (found.contacts, found.companies, found.deals) == ([], [], [])

    def test_wildcards_are_plain_characters(self, session):
        deal_service.create_deal(session, data=DealCreate(title="Rabatt 100%"), actor_id=None)
        deal_service.create_deal(session, data=DealCreate(title="Rabatt 1000"), actor_id=None)
        assert [h.title for h in search.search(session, q="0%").deals] == ["Rabatt 100%"]
