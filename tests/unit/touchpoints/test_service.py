from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.core import lists
from crm.core.db import utcnow
from crm.core.errors import Conflict, Invalid, NotFound
from crm.core.lists import ListEntryCreate, ListEntryUpdate
from crm.touchpoints import service
from crm.touchpoints.models import (
    DEFAULT_CHANNELS,
    Channel,
    Outcome,
    TouchpointCreate,
    TouchpointUpdate,
)
from tests.factories import log_touchpoint, make_company, make_contact, make_user


class TestLists:
    def test_the_defaults_are_seeded_once_and_edits_survive_reseeding(self, session):
        assert [c.key for c in lists.entries(session, Channel)] == [
            key for key, _ in DEFAULT_CHANNELS
        ]
        call = session.exec(select(Channel).where(Channel.key == "call")).one()
        lists.update(session, call, data=ListEntryUpdate(name="Anruf"), actor_id=None)
        service.seed_defaults(session)
        assert session.exec(select(Channel).where(Channel.key == "call")).one().name == "Anruf"
        assert len(lists.entries(session, Channel)) == len(DEFAULT_CHANNELS)

    def test_retired_entries_are_not_offered_but_stay_readable(self, session):
        fax = lists.create(
            session, Channel, data=ListEntryCreate(key="fax", name="Fax"), actor_id=None
        )
        contact = make_contact(session)
        touchpoint = log_touchpoint(session, contact_id=contact.id, channel="fax")
        lists.update(session, fax, data=ListEntryUpdate(is_active=False), actor_id=None)
        assert "fax" not in [c.key for c in lists.entries(session, Channel)]
        assert service.Labels(session).public(touchpoint).channel == "fax"
        with pytest.raises(Invalid):
            log_touchpoint(session, contact_id=contact.id, channel="fax")

    def test_keys_are_unique(self, session):
        with pytest.raises(Conflict):
            lists.create(
                session, Outcome, data=ListEntryCreate(key="reached", name="X"), actor_id=None
            )


class TestLogging:
    def test_a_call_logged_now_on_a_contact_counts_for_the_company_too(self, session):
        company = make_company(session)
        rep = make_user(session)
        contact = make_contact(session, company_id=company.id)
        before = utcnow()
        touchpoint = service.log_touchpoint(
            session,
            data=TouchpointCreate(
                contact_id=contact.id, summary="Called about offer", outcome="reached", sentiment=1
            ),
            actor_id=rep.id,
        )
        assert touchpoint.company_id == company.id and touchpoint.logged_by_id == rep.id
        assert before <= touchpoint.occurred_at <= utcnow()
        public = service.Labels(session).public(touchpoint)
        assert (public.channel, public.outcome, public.sentiment) == ("call", "reached", 1)

    def test_a_touchpoint_may_lie_in_the_past_but_not_the_future(self, session):
        contact = make_contact(session)
        last_year = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
        assert (
            log_touchpoint(session, contact_id=contact.id, occurred_at=last_year).occurred_at
            == last_year
        )
        with pytest.raises(ValidationError):
            TouchpointCreate(
                contact_id=contact.id, summary="x", occurred_at=utcnow() + timedelta(hours=1)
            )

    @pytest.mark.parametrize(
        "values",
        [
            {"summary": ""},
            {"summary": "x", "sentiment": 3},
            {"summary": "x", "nps": 11},
            {"summary": "x", "direction": "sideways"},
            {"summary": "x", "duration_minutes": -1},
        ],
    )
    def test_bad_values_are_refused(self, values):
        with pytest.raises(ValidationError):
            TouchpointCreate(contact_id=1, **values)

    def test_a_subject_is_required_and_must_exist(self, session):
        with pytest.raises(ValidationError):
            TouchpointCreate(summary="nobody")
        with pytest.raises(NotFound):
            service.log_touchpoint(
                session, data=TouchpointCreate(contact_id=999999, summary="x"), actor_id=None
            )
        with pytest.raises(Invalid) as error:
            service.log_touchpoint(
                session,
                data=TouchpointCreate(
                    contact_id=make_contact(session).id, summary="x", channel="pigeon"
                ),
                actor_id=None,
            )
        assert error.value.field == "channel"

    def test_update_and_delete(self, session):
        touchpoint = log_touchpoint(session, contact_id=make_contact(session).id)
        service.update_touchpoint(
            session,
            touchpoint=touchpoint,
            data=TouchpointUpdate(channel="meeting", outcome="positive", summary="Met"),
            actor_id=None,
        )
        public = service.Labels(session).public(touchpoint)
        assert (public.channel, public.outcome, public.summary) == ("meeting", "positive", "Met")
        with pytest.raises(Invalid):
            service.update_touchpoint(
                session, touchpoint=touchpoint, data=TouchpointUpdate(summary=None), actor_id=None
            )
        service.delete_touchpoint(session, touchpoint=touchpoint, actor_id=None)
        with pytest.raises(NotFound):
            service.get_touchpoint(session, touchpoint_id=touchpoint.id)


class TestTimelines:
    def test_newest_first_in_pages(self, session):
        contact = make_contact(session)
        start = datetime(2026, 1, 1, tzinfo=UTC)
        made = [
            log_touchpoint(
                session,
                contact_id=contact.id,
                summary=f"t{i}",
                occurred_at=start + timedelta(days=i % 3),
            )
            for i in range(7)
        ]
        seen, cursor = [], None
        while True:
            page, cursor = service.list_touchpoints(
                session, contact_id=contact.id, limit=3, cursor=cursor
            )
            seen += page
            if not cursor:
                break
        expected = sorted(made, key=lambda t: (t.occurred_at, t.id), reverse=True)
        assert [t.id for t in seen] == [t.id for t in expected]

    def test_a_company_timeline_holds_its_peoples_touchpoints(self, session):
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        on_company = log_touchpoint(session, company_id=company.id, summary="fair")
        on_contact = log_touchpoint(session, contact_id=contact.id, summary="call")
        log_touchpoint(session, contact_id=make_contact(session).id)
        page, _ = service.list_touchpoints(session, company_id=company.id)
        assert {t.id for t in page} == {on_company.id, on_contact.id}

    def test_filters_by_channel_and_time(self, session):
        contact = make_contact(session)
        old = log_touchpoint(
            session,
            contact_id=contact.id,
            channel="email",
            occurred_at=datetime(2024, 5, 1, tzinfo=UTC),
        )
        log_touchpoint(session, contact_id=contact.id, channel="call")
        assert [
            t.id
            for t in service.list_touchpoints(session, channel="email", contact_id=contact.id)[0]
        ] == [old.id]
        assert [
            t.id
            for t in service.list_touchpoints(
                session, contact_id=contact.id, until=datetime(2025, 1, 1, tzinfo=UTC)
            )[0]
        ] == [old.id]

    def test_deleting_a_company_keeps_its_peoples_touchpoints(self, session):
        company = make_company(session)
        contact = make_contact(session, company_id=company.id)
        kept = log_touchpoint(session, contact_id=contact.id).id
        gone = log_touchpoint(session, company_id=company.id).id
        contact_service.delete_company(session, company=company, actor_id=None)
        session.commit()
        session.expire_all()
        assert service.get_touchpoint(session, touchpoint_id=kept).company_id is None
        with pytest.raises(NotFound):
            service.get_touchpoint(session, touchpoint_id=gone)

    def test_deleting_a_contact_deletes_their_touchpoints(self, session):
        contact = make_contact(session)
        touchpoint_id = log_touchpoint(session, contact_id=contact.id).id
        contact_service.delete_contact(session, contact=contact, actor_id=None)
        session.commit()
        session.expire_all()
        with pytest.raises(NotFound):
            service.get_touchpoint(session, touchpoint_id=touchpoint_id)
