"""Deadlines of data subject requests: a calendar month after receipt, the month's last
day when it has no such day, and one extension by up to two months."""

from datetime import UTC, date, datetime

import pytest

from crm.core.errors import Conflict, Invalid
from crm.gdpr import cases
from crm.gdpr.models import (
    PrivacySettingsPublic,
    RequestCreate,
    RequestExtension,
    RequestUpdate,
)
from tests.factories import make_contact, make_user


@pytest.mark.parametrize(
    ("received", "months", "due"),
    [
        (date(2026, 1, 15), 1, date(2026, 2, 15)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # a leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 12, 31), 1, date(2027, 1, 31)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),  # extended by two months
        (date(2027, 11, 30), 3, date(2028, 2, 29)),
        (date(2026, 2, 28), 1, date(2026, 3, 28)),  # not the month's end in March
    ],
)
def test_add_months(received, months, due):
    assert cases.add_months(received, months) == due


def test_a_request_is_due_a_month_after_receipt_and_may_be_extended_once(session):
    dpo = make_user(session)
    contact = make_contact(session)
    found = cases.create_request(
        session,
        data=RequestCreate(
            kind="access",
            requester_name="Ann Asker",
            contact_id=contact.id,
            received_at=datetime(2026, 1, 31, 23, 0, tzinfo=UTC),
        ),
        actor_id=dpo.id,
    )
    assert (found.due_date, found.handler_id, found.status) == (
        date(2026, 2, 28),
        dpo.id,
        "received",
    )
    with pytest.raises(ValueError):
        RequestExtension(months=3, reason="too long")
    with pytest.raises(ValueError):
        RequestExtension(months=2, reason="")
    cases.extend_request(
        session, found=found, data=RequestExtension(months=2, reason="Complex"), actor_id=dpo.id
    )
    assert (found.due_date, found.extended_months) == (date(2026, 4, 30), 2)
    with pytest.raises(Conflict):
        cases.extend_request(
            session, found=found, data=RequestExtension(months=1, reason="Again"), actor_id=dpo.id
        )


def test_refusing_needs_a_legal_ground_and_a_closed_case_stays_closed(session):
    found = cases.create_request(
        session, data=RequestCreate(kind="erasure", requester_name="Eve"), actor_id=None
    )
    with pytest.raises(Invalid) as refused:
        cases.update_request(
            session, found=found, data=RequestUpdate(status="refused"), actor_id=None
        )
    assert refused.value.field == "refusal_ground"
    assert found.status == "received"
    cases.update_request(
        session,
        found=found,
        data=RequestUpdate(
            status="refused", refusal_ground="Art. 17(3)(b): retention required by tax law"
        ),
        actor_id=None,
    )
    assert found.closed_at is not None
    with pytest.raises(Conflict):
        cases.update_request(session, found=found, data=RequestUpdate(notes="x"), actor_id=None)


def test_overdue_and_flagged_when_due_within_a_week(session):
    received = datetime(2026, 3, 1, 9, tzinfo=UTC)
    soon = cases.create_request(
        session,
        data=RequestCreate(kind="access", requester_name="Sue", received_at=received),
        actor_id=None,
    )
    later = cases.create_request(
        session,
        data=RequestCreate(
            kind="access", requester_name="Lou", received_at=datetime(2026, 3, 20, tzinfo=UTC)
        ),
        actor_id=None,
    )
    assert soon.due_date == date(2026, 4, 1)
    assert cases.flag_due_soon(session, today=date(2026, 3, 24)) == 0
    assert cases.flag_due_soon(session, today=date(2026, 3, 25)) == 1
    assert cases.flag_due_soon(session, today=date(2026, 3, 25)) == 0  # once
    session.refresh(soon)
    session.refresh(later)
    assert soon.due_soon_at is not None and later.due_soon_at is None
    assert not cases.is_overdue(soon, today=date(2026, 4, 1))
    assert cases.is_overdue(soon, today=date(2026, 4, 2))
    listed, _ = cases.list_requests(session, open_only=True)
    assert [r.id for r in listed][:2] == [soon.id, later.id]


def test_who_may_handle_requests(session):
    from crm.users.models import Role

    dpo = make_user(session, roles=(Role.DPO,))
    admin = make_user(session, roles=(Role.ADMIN,))
    rep = make_user(session, roles=(Role.SALES_REP,))
    assert cases.may_handle(session, dpo) and not cases.may_handle(session, admin)
    cases.update_settings(
        session, data=PrivacySettingsPublic(admins_may_handle=True), actor_id=dpo.id
    )
    assert cases.may_handle(session, admin) and not cases.may_handle(session, rep)
