"""Everything the database holds about one contact, table by table: which rows are
theirs, which columns an export shows, and what an erasure does with them.

The columns come from the privacy marks (DESIGN.md rule 7): an export shows every column
but secrets and links to staff (other people appear by their role only). Every table that
links to a contact must be listed here with its erasure rule; a test checks it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Select, Table, select

from crm.contacts.models import Contact, ContactEmail, ContactPhone, ContactTag, Tag
from crm.core.audit import AuditEvent
from crm.core.db import Privacy
from crm.deals.models import Deal, DealContact
from crm.followups.models import Followup
from crm.gdpr.models import ConsentEvent, PrivacyRequest
from crm.journeys.models import Enrollment, PhaseTransition, TouchpointPhase
from crm.mail.models import MailAttachment, MailMessage, OutboxMail, TriageEntry
from crm.touchpoints.models import Touchpoint


class Erase(StrEnum):
    DELETE = "delete"  # the rows go with the contact (a cascade of its row)
    DEALS = "deals"  # deals only they take part in: won ones keep their figures
    CONSENTS = "consents"  # deleted, or kept without the person on a recorded ground
    DETACH = "detach"  # kept as proof, the person's values cleared
    KEEP = "keep"  # holds no personal values: who did what and when


@dataclass(frozen=True)
class Kind:
    """One kind of record in an export: a file of its own."""

    name: str
    table: Table
    rows: Callable[[int], Select[Any]]
    erase: Erase


def exported_columns(table: Table) -> list[Column[Any]]:
    """What an export shows of a table: not secrets, not who of the staff did it."""
    return [
        c
        for c in table.columns
        if c.info.get("privacy") != Privacy.SECRET
        and not any(fk.column.table.name == "user" for fk in c.foreign_keys)
    ]


def _rows(model: Any, where: Callable[[int], Any]) -> Callable[[int], Select[Any]]:
    """The model's exported columns, of the rows ``where`` picks for a contact id."""
    table = model.__table__

    def rows(contact_id: int) -> Select[Any]:
        query = select(*exported_columns(table)).where(where(contact_id))
        return query.order_by(*table.primary_key.columns)

    return rows


def _kind(name: str, model: Any, where: Callable[[int], Any], erase: Erase) -> Kind:
    return Kind(name, model.__table__, _rows(model, where), erase)


def _enrollments(contact_id: int) -> Any:
    return select(Enrollment.id).where(Enrollment.contact_id == contact_id)


def _deals(contact_id: int) -> Any:
    return select(DealContact.deal_id).where(DealContact.contact_id == contact_id)


def _touchpoints(contact_id: int) -> Any:
    return select(Touchpoint.id).where(Touchpoint.contact_id == contact_id)


def _addresses(contact_id: int) -> Any:
    return select(ContactEmail.email).where(ContactEmail.contact_id == contact_id)


def _tags(contact_id: int) -> Select[Any]:
    return (
        select(Tag.name)
        .join(ContactTag, ContactTag.tag_id == Tag.id)
        .where(ContactTag.contact_id == contact_id)
        .order_by(Tag.name)
    )


KINDS = [
    _kind("contact", Contact, lambda c: Contact.id == c, Erase.DELETE),
    _kind("emails", ContactEmail, lambda c: ContactEmail.contact_id == c, Erase.DELETE),
    _kind("phones", ContactPhone, lambda c: ContactPhone.contact_id == c, Erase.DELETE),
    Kind("tags", ContactTag.__table__, _tags, Erase.DELETE),
    _kind("touchpoints", Touchpoint, lambda c: Touchpoint.contact_id == c, Erase.DELETE),
    _kind(
        "mails",
        MailMessage,
        lambda c: MailMessage.touchpoint_id.in_(_touchpoints(c)),
        Erase.DELETE,
    ),
    _kind(
        "mail_attachments",
        MailAttachment,
        lambda c: MailAttachment.touchpoint_id.in_(_touchpoints(c)),
        Erase.DELETE,
    ),
    _kind("sent_mails", OutboxMail, lambda c: OutboxMail.contact_id == c, Erase.DELETE),
    # Mail from their address that waited for triage when they became a contact.
    _kind(
        "waiting_mails", TriageEntry, lambda c: TriageEntry.address.in_(_addresses(c)), Erase.DELETE
    ),
    _kind("journeys", Enrollment, lambda c: Enrollment.contact_id == c, Erase.DELETE),
    _kind(
        "journey_moves",
        PhaseTransition,
        lambda c: PhaseTransition.enrollment_id.in_(_enrollments(c)),
        Erase.DELETE,
    ),
    _kind("followups", Followup, lambda c: Followup.contact_id == c, Erase.DELETE),
    _kind("deal_roles", DealContact, lambda c: DealContact.contact_id == c, Erase.DELETE),
    _kind("deals", Deal, lambda c: Deal.id.in_(_deals(c)), Erase.DEALS),
    _kind("consents", ConsentEvent, lambda c: ConsentEvent.contact_id == c, Erase.CONSENTS),
    _kind(
        "privacy_requests", PrivacyRequest, lambda c: PrivacyRequest.contact_id == c, Erase.DETACH
    ),
    _kind(
        "history",
        AuditEvent,
        lambda c: (AuditEvent.entity_type == "contact") & (AuditEvent.entity_id == c),
        Erase.KEEP,
    ),
]

# Rows derived from the kinds above, kept in step by the services, or the DPO's own
# working notes about a contact (retention proposals): no file of their own, gone with
# the contact.
DERIVED = {TouchpointPhase.__tablename__, "retention_proposal"}
# The erasure's own records: ids, counts and legal grounds, never the person.
TOMBSTONES = {"erasure", "erasure_mention"}
