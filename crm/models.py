"""Every table model, imported so that ``SQLModel.metadata`` is complete for Alembic."""

from sqlmodel import SQLModel

from crm.core.audit import AuditEvent
from crm.users.models import ApiToken, LoginAttempt, User, UserRole

metadata = SQLModel.metadata

__all__ = ["ApiToken", "AuditEvent", "LoginAttempt", "User", "UserRole", "metadata"]
