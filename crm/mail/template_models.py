"""Mail templates: texts in English and German that a user starts a mail from."""

from datetime import datetime

from pydantic import field_validator
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.schemas import Strict, blank_is_none
from crm.mail.models import MailKind


class MailTemplate(SQLModel, table=True):
    __tablename__ = "mail_template"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=120, unique=True)
    kind: str = column(Privacy.NONE, default=MailKind.CONTRACT, max_length=16)
    subject_en: str = column(Privacy.NONE, max_length=500)
    body_en: str = column(Privacy.NONE, max_length=50_000)
    # German texts are optional: a German contact gets the English ones without them.
    subject_de: str | None = column(Privacy.NONE, default=None, max_length=500)
    body_de: str | None = column(Privacy.NONE, default=None, max_length=50_000)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)


TEXT_HELP = "Jinja2 (sandboxed): {{ contact.first_name }}, {{ user.signature }} and so on."


class MailTemplateFields(Strict, SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    kind: MailKind | None = None
    subject_en: str | None = Field(
        default=None, min_length=1, max_length=500, description=TEXT_HELP
    )
    body_en: str | None = Field(default=None, min_length=1, max_length=50_000)
    subject_de: str | None = Field(default=None, max_length=500)
    body_de: str | None = Field(default=None, max_length=50_000)

    _blank_is_none = field_validator("*", mode="before")(blank_is_none)


class MailTemplateCreate(MailTemplateFields):
    name: str = Field(min_length=1, max_length=120)
    subject_en: str = Field(min_length=1, max_length=500, description=TEXT_HELP)
    body_en: str = Field(min_length=1, max_length=50_000)


class MailTemplateUpdate(MailTemplateFields):
    """Only the fields sent change; null clears a German text."""


class MailTemplatePublic(SQLModel):
    id: int
    name: str
    kind: MailKind
    subject_en: str
    body_en: str
    subject_de: str | None
    body_de: str | None
    created_at: datetime
    updated_at: datetime


class MailPreviewRequest(Strict, SQLModel):
    contact_id: int = Field(description="The contact the texts are written for.")


class MailDraft(SQLModel):
    """A template's texts as they read for one contact, from the user who asks."""

    template_id: int
    kind: MailKind
    language: str = Field(description="The contact's language, or English without its texts.")
    subject: str
    body: str
