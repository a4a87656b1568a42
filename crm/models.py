"""Every table model, imported so that ``SQLModel.metadata`` is complete for Alembic."""

from sqlmodel import SQLModel

from crm.contacts.models import Company, Contact, ContactEmail, ContactPhone
from crm.core.audit import AuditEvent
from crm.scheduler import JOBSTORE_TABLE
from crm.touchpoints.models import Channel, Outcome, Touchpoint
from crm.users.models import ApiToken, LoginAttempt, User, UserRole

metadata = SQLModel.metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave the scheduler's job table, which APScheduler manages, out of migrations."""
    return not (type_ == "table" and name == JOBSTORE_TABLE)


__all__ = [
    "ApiToken",
    "AuditEvent",
    "Channel",
    "Company",
    "Contact",
    "ContactEmail",
    "ContactPhone",
    "LoginAttempt",
    "Outcome",
    "Touchpoint",
    "User",
    "UserRole",
    "include_object",
    "metadata",
]
