"""Naming the contacts and companies a home lists, a page of them at once."""

from sqlmodel import Session

from crm.contacts import service as contact_service
from crm.followups.models import Followup
from crm.home.models import FollowupItem, Subject

# Each list on a home shows at most this many; its own page shows the rest.
SHOWN = 10


def subjects_named(
    session: Session, pairs: list[tuple[int | None, int | None]]
) -> dict[tuple[str, int], Subject]:
    """Contacts and companies by ("contact" | "company", id), for (contact_id, company_id)
    pairs."""
    names = contact_service.subject_names(
        session,
        contact_ids={contact_id for contact_id, _ in pairs if contact_id},
        company_ids={company_id for _, company_id in pairs if company_id},
    )
    return {key: Subject(kind=key[0], id=key[1], name=name) for key, name in names.items()}


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
