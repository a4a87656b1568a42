"""Restriction (Art. 18), objection to direct marketing (Art. 21(2)) and the suppression
list that keeps an objection or erasure in force when the person is entered again."""

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.followups.models import PENDING, Followup, FollowupRule, FollowupStatus
from crm.gdpr import keys
from crm.gdpr.models import Purpose, Suppression, SuppressionReason


def set_restriction(
    session: Session, *, contact: Contact, restricted: bool, actor_id: int | None
) -> Contact:
    """Restricted: the record stays as it is, and no rule or job touches it."""
    contact.restricted_at = (contact.restricted_at or utcnow()) if restricted else None
    action = "contact.restrict" if restricted else "contact.lift_restriction"
    return audit.save(session, contact, actor_id=actor_id, action=action, fields=["restricted_at"])


def set_objection(
    session: Session, *, contact: Contact, objected: bool, actor_id: int | None
) -> Contact:
    """An objection to direct marketing stops every marketing rule for them at once, and
    stays in force if they are entered again; lifting it (their own wish) ends both."""
    if objected:
        contact.objected_at = contact.objected_at or utcnow()
        suppress(session, contact=contact, reason=SuppressionReason.OBJECTION)
        _cancel_marketing_followups(session, contact)
    else:
        contact.objected_at = None
        lift_suppression(session, contact=contact)
    action = "contact.object" if objected else "contact.lift_objection"
    return audit.save(session, contact, actor_id=actor_id, action=action, fields=["objected_at"])


def _cancel_marketing_followups(session: Session, contact: Contact) -> None:
    """What marketing rules already planned for them is called off too."""
    marketing = select(Purpose.key).where(col(Purpose.is_marketing))
    rules = select(FollowupRule.id).where(col(FollowupRule.purpose).in_(marketing))
    session.execute(
        update(Followup)
        .where(
            Followup.contact_id == contact.id,
            col(Followup.status).in_(PENDING),
            col(Followup.rule_id).in_(rules),
        )
        .values(status=FollowupStatus.CANCELLED, updated_at=utcnow())
    )


def suppress(session: Session, *, contact: Contact, reason: SuppressionReason) -> None:
    found = keys.person_keys(contact.emails, contact.phones)
    if not found:
        return
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    rows = [{"key_hash": k, "reason": reason, "created_at": utcnow()} for k in found]
    session.execute(dialect.insert(Suppression.__table__).values(rows).on_conflict_do_nothing())


def lift_suppression(session: Session, *, contact: Contact) -> None:
    """New consent (or a lifted objection): the person may be marketed to again."""
    found = keys.person_keys(contact.emails, contact.phones)
    if found:
        session.execute(delete(Suppression).where(col(Suppression.key_hash).in_(found)))
    contact.suppressed_at = None
