"""Mail templates and the drafts written from them. The texts are Jinja2 in a sandbox:
an admin's template reaches the contact's name and the user's signature, nothing else
of the CRM, and a mistake in it is refused when it is saved, not when a mail goes out."""

from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, CRMError, Invalid, NotFound
from crm.followups import service as followup_service
from crm.followups.models import PENDING, Followup
from crm.mail.models import MailKind, MailMessage
from crm.mail.template_models import (
    MailDraft,
    MailTemplate,
    MailTemplateCreate,
    MailTemplateUpdate,
)
from crm.touchpoints.models import Touchpoint
from crm.users.models import User

# Mails are plain text: nothing to escape. Undefined names fail instead of vanishing.
_environment = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)

# What a template may use, shown to admins; a preview fills them with these examples.
SAMPLE: dict[str, dict[str, str]] = {
    "contact": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "name": "Ada Lovelace",
        "email": "ada@customers.example",
        "job_title": "Head of Engineering",
    },
    "company": {"name": "Analytical Engines Ltd"},
    "user": {
        "name": "Sam Seller",
        "email": "sam@crm.example",
        "signature": "Sam Seller\nAccount Manager",
    },
}
TEXTS = ("subject_en", "body_en", "subject_de", "body_de")


def variables(contact: Contact, *, company_name: str | None, user: User) -> dict[str, Any]:
    return {
        "contact": {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "name": contact.name,
            "email": contact.email or "",
            "job_title": contact.job_title or "",
        },
        "company": {"name": company_name or ""},
        "user": {"name": user.name, "email": user.email, "signature": user.signature or ""},
    }


def render_text(text: str, values: dict[str, Any], *, field: str) -> str:
    try:
        return _environment.from_string(text).render(values)
    except TemplateError as exc:
        problem = exc.message or type(exc).__name__
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # What a text computes can fail as Python does ({{ 1 / 0 }}): a refusal too.
        problem = f"{type(exc).__name__}: {exc}"
    raise Invalid(
        N_("This text cannot be used as a template: %(problem)s"), field=field, problem=problem
    )


def _check_texts(template: MailTemplate) -> None:
    for name in TEXTS:
        text = getattr(template, name)
        if text is not None:
            render_text(text, SAMPLE, field=name)
    if (template.subject_de is None) != (template.body_de is None):
        missing = "body_de" if template.body_de is None else "subject_de"
        raise Invalid(N_("German texts need both a subject and a text."), field=missing)


def _check_name(session: Session, template: MailTemplate) -> None:
    query = select(MailTemplate.id).where(
        MailTemplate.name == template.name, col(MailTemplate.id) != template.id
    )
    if session.exec(query).first() is not None:
        raise Conflict(N_("A template with this name exists already."))


def list_templates(session: Session) -> list[MailTemplate]:
    return list(session.exec(select(MailTemplate).order_by(col(MailTemplate.name))))


def get_template(session: Session, *, template_id: int) -> MailTemplate:
    template = session.get(MailTemplate, template_id)
    if template is None:
        raise NotFound(N_("This mail template does not exist."))
    return template


def create_template(
    session: Session, *, data: MailTemplateCreate, actor_id: int | None
) -> MailTemplate:
    values = data.model_dump(exclude_none=True)
    template = MailTemplate(**values)
    _check_texts(template)
    _check_name(session, template)
    return audit.save(
        session, template, actor_id=actor_id, action="mail_template.create", fields=values.keys()
    )


def update_template(
    session: Session, *, template: MailTemplate, data: MailTemplateUpdate, actor_id: int | None
) -> MailTemplate:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "kind", "subject_en", "body_en"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    template.sqlmodel_update(changes)
    template.updated_at = utcnow()
    _check_texts(template)
    _check_name(session, template)
    return audit.save(
        session, template, actor_id=actor_id, action="mail_template.update", fields=changes.keys()
    )


def delete_template(session: Session, *, template: MailTemplate, actor_id: int | None) -> None:
    """The template goes; mails written from it keep their texts."""
    audit.delete(session, template, actor_id=actor_id, action="mail_template.delete")


def render(template: MailTemplate, values: dict[str, Any], *, language: str) -> MailDraft:
    """The template's texts in ``language`` where it has them, else in English."""
    language = "de" if language == "de" and template.subject_de else "en"
    subject = getattr(template, f"subject_{language}")
    body = getattr(template, f"body_{language}")
    assert template.id is not None
    return MailDraft(
        template_id=template.id,
        kind=MailKind(template.kind),
        language=language,
        subject=" ".join(render_text(subject, values, field=f"subject_{language}").split()),
        body=render_text(body, values, field=f"body_{language}"),
    )


@dataclass
class Preview:
    language: str
    subject: str = ""
    body: str = ""
    problem: CRMError | None = None


def preview(texts: dict[str, str]) -> list[Preview]:
    """Typed texts of a template, per language, filled with the example values."""
    previews = []
    for language in ("en", "de"):
        subject, body = texts[f"subject_{language}"], texts[f"body_{language}"]
        if not (subject.strip() or body.strip()):
            continue
        try:
            previews.append(
                Preview(
                    language,
                    render_text(subject, SAMPLE, field=f"subject_{language}"),
                    render_text(body, SAMPLE, field=f"body_{language}"),
                )
            )
        except Invalid as exc:
            previews.append(Preview(language, problem=exc))
    return previews


def draft_for(
    session: Session, *, template: MailTemplate, contact: Contact, user: User, default_language: str
) -> MailDraft:
    """The template written for one contact, in their language, signed by ``user``."""
    companies = contact_service.company_names(
        session, {contact.company_id} if contact.company_id else set()
    )
    values = variables(contact, company_name=companies.get(contact.company_id), user=user)
    return render(template, values, language=contact.language or default_language)


@dataclass
class Compose:
    """What the compose form starts from: a template written for the contact, the mail
    it answers, the follow-up it carries out."""

    templates: list[MailTemplate]
    # Whom it is written to: none yet on a company's page until one is picked.
    contact: Contact | None = None
    template_id: int | None = None
    subject: str = ""
    body: str = ""
    kind: MailKind = MailKind.CONTRACT
    followup: Followup | None = None
    reply_to: int | None = None
    # A template that cannot be written for this contact: said, and the form left empty.
    problem: CRMError | None = None
    recipients: list[Contact] = field(default_factory=list)


def compose(
    session: Session,
    *,
    contact: Contact | None,
    user: User,
    default_language: str,
    company_id: int | None = None,
    recipient_id: int | None = None,
    template_id: int | None = None,
    reply_to: int | None = None,
    followup_id: int | None = None,
) -> Compose:
    """The compose form for a contact; from a company's page (``company_id``) for the one
    of its people with an address picked from ``recipients`` (``recipient_id``)."""
    draft = Compose(templates=list_templates(session))
    if company_id is not None:
        people, _ = contact_service.list_contacts(
            session, company_id=company_id, with_addresses=True, limit=200
        )
        draft.recipients = [person for person in people if person.email]
        contact = next((p for p in draft.recipients if p.id == recipient_id), None)
    if contact is None:
        return draft
    draft.contact = contact
    followup = session.get(Followup, followup_id or 0)
    if followup and followup.status in PENDING and followup_service.is_about(followup, contact):
        draft.followup, draft.subject = followup, followup.title
    template = session.get(MailTemplate, template_id or 0)
    if template is not None:
        draft.template_id = template.id
        try:
            written = draft_for(
                session,
                template=template,
                contact=contact,
                user=user,
                default_language=default_language,
            )
        except Invalid as exc:
            draft.problem = exc
        else:
            draft.subject, draft.body, draft.kind = written.subject, written.body, written.kind
    answered = session.get(Touchpoint, reply_to or 0)
    if answered is not None and session.get(MailMessage, answered.id) is not None:
        # A reply keeps the conversation's subject, as mail programs do.
        draft.reply_to = answered.id
        summary = answered.summary
        draft.subject = summary if summary.lower().startswith("re:") else f"Re: {summary}"
    return draft
