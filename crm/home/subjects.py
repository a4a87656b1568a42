"""Naming the contacts and companies a home lists, a page of them at once."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from crm.contacts.models import Company, Contact
from crm.followups.models import Followup
from crm.home.models import FollowupItem, Subject

# Each list on a home shows at most this many; its own page shows the rest.
SHOWN = 10


def subjects_named(
    session: Session, pairs: list[tuple[int | None, int | None]]
) -> dict[tuple[str, int], Subject]:
    """Contacts and companies by ("contact" | "company", id), for (contact_id, company_id)
    pairs, in one query per kind."""
    found: dict[tuple[str, int], Subject] = {}
    contact_ids = {c for c, _ in pairs if c}
    company_ids = {c for _, c in pairs if c}
    if contact_ids:
        query = select(Contact.id, Contact.first_name, Contact.last_name).where(
            col(Contact.id).in_(contact_ids)
        )
        for id_, first, last in session.exec(query):
            found[("contact", id_)] = Subject(kind="contact", id=id_, name=f"{first} {last}")
    if company_ids:
        query = select(Company.id, Company.name).where(col(Company.id).in_(company_ids))
        for id_, name in session.exec(query):
            found[("company", id_)] = Subject(kind="company", id=id_, name=name)
    return found


def subject_of(
    subjects: dict[tuple[str, int], Subject], contact_id: int | None, company_id: int | None
) -> Subject | None:
    if contact_id:
        return subjects.get(("contact", contact_id))
    return subjects.get(("company", company_id)) if company_id else None


def followup_items(session: Session, followups: list[Followup]) -> list[FollowupItem]:
    subjects = subjects_named(session, [(f.contact_id, f.company_id) for f in followups])
    return [
        FollowupItem(
            id=f.id,
            title=f.title,
            due_at=f.due_at,
            subject=subject_of(subjects, f.contact_id, f.company_id),
        )
        for f in followups
    ]


def aware(value: datetime | str) -> datetime:
    """A max() over a UTC column comes back naive (SQLite: as text); it is UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
