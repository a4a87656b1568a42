"""The register of processing, consent (texts and the log), and data subject requests.
No HTTP in here."""

import hashlib
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.contacts.models import Contact
from crm.core import audit
from crm.core.db import utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound
from crm.core.i18n import translations
from crm.gdpr import rights
from crm.gdpr.models import (
    ConsentAction,
    ConsentChange,
    ConsentEvent,
    ConsentEventPublic,
    Consents,
    ConsentSource,
    ConsentState,
    ConsentText,
    ConsentTextCreate,
    LegalBasis,
    Purpose,
    PurposeCreate,
    PurposeUpdate,
)

# Sensible entries for a new register (DOMAIN.md, customer data and the GDPR).
DEFAULT_PURPOSES = [
    PurposeCreate(
        key="customer_relationship",
        name=N_("Customer relationship"),
        description=N_(
            "Offers, contracts, delivery, support and after-sales care of customers "
            "and of the people who work for them."
        ),
        legal_basis=LegalBasis.CONTRACT,
        data_categories=N_(
            "Name, business contact details, role, correspondence, touchpoints, deals, follow-ups"
        ),
        recipients=N_("Sales and account management staff"),
        source=N_("The data subject, their employer"),
        retention_months=120,
    ),
    PurposeCreate(
        key="direct_marketing",
        name=N_("Direct marketing"),
        description=N_("Newsletters and offers by e-mail or phone."),
        legal_basis=LegalBasis.CONSENT,
        data_categories=N_("Name, e-mail address, phone number, interests"),
        recipients=N_("Marketing staff"),
        source=N_("The data subject"),
        retention_months=24,
        is_marketing=True,
    ),
    PurposeCreate(
        key="after_sales_surveys",
        name=N_("After-sales surveys"),
        description=N_(
            "Satisfaction and NPS surveys after a purchase, and the follow-ups they lead to."
        ),
        legal_basis=LegalBasis.LEGITIMATE_INTERESTS,
        data_categories=N_("Name, contact details, answers, scores"),
        recipients=N_("Account management staff"),
        source=N_("The data subject"),
        retention_months=36,
    ),
]
PURPOSE_TEXTS = ("name", "description", "data_categories", "recipients", "source")
DEFAULT_TEXTS = {
    "direct_marketing": {
        "en": "I agree that you send me offers and news about your products by e-mail and "
        "call me about them. I can withdraw this consent at any time, with effect for the "
        "future, by the link in every message or by telling you.",
        "de": "Ich bin einverstanden, dass Sie mir Angebote und Neuigkeiten zu Ihren "
        "Produkten per E-Mail senden und mich dazu anrufen. Ich kann diese Einwilligung "
        "jederzeit mit Wirkung für die Zukunft widerrufen, über den Link in jeder "
        "Nachricht oder formlos.",
    }
}
WITHDRAWAL_SALT = "crm.consent-withdrawal"


# --- the register of processing -------------------------------------------------------


def seed_defaults(session: Session, *, language: str = "en") -> None:
    """The default purposes, described in the installation's language, and their consent
    texts, on a register that has none."""
    if session.exec(select(Purpose.id)).first() is not None:
        return
    gettext = translations(language).gettext
    for default in DEFAULT_PURPOSES:
        texts = {field: gettext(getattr(default, field)) for field in PURPOSE_TEXTS}
        data = default.model_copy(update=texts)
        purpose = create_purpose(session, data=data, actor_id=None)
        for language, body in DEFAULT_TEXTS.get(purpose.key, {}).items():
            text = ConsentTextCreate(language=language, body=body)
            add_consent_text(session, purpose=purpose, data=text, actor_id=None)


def list_purposes(session: Session, *, active_only: bool = False) -> list[Purpose]:
    query = select(Purpose).order_by(Purpose.name, Purpose.id)
    if active_only:
        query = query.where(col(Purpose.is_active))
    return list(session.exec(query))


def get_purpose(session: Session, *, purpose_id: int) -> Purpose:
    purpose = session.get(Purpose, purpose_id)
    if purpose is None:
        raise NotFound(N_("No such purpose."))
    return purpose


def purpose_by_key(session: Session, key: str, *, field: str = "purpose") -> Purpose:
    purpose = session.exec(select(Purpose).where(Purpose.key == key)).first()
    if purpose is None:
        raise Invalid(N_("Choose one of the offered values."), field=field)
    return purpose


def create_purpose(session: Session, *, data: PurposeCreate, actor_id: int | None) -> Purpose:
    if session.exec(select(Purpose.id).where(Purpose.key == data.key)).first():
        raise Invalid(N_("A purpose with this key exists already."), field="key")
    purpose = Purpose.model_validate(data)
    return audit.save(session, purpose, actor_id=actor_id, action="purpose.create")


def update_purpose(
    session: Session, *, purpose: Purpose, data: PurposeUpdate, actor_id: int | None
) -> Purpose:
    changes = data.model_dump(exclude_unset=True)
    for required in ("name", "legal_basis", "is_marketing", "is_active"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    purpose.sqlmodel_update({**changes, "updated_at": utcnow()})
    return audit.save(session, purpose, actor_id=actor_id, action="purpose.update", fields=changes)


def texts_of(session: Session, *, purpose: Purpose) -> list[ConsentText]:
    query = select(ConsentText).where(ConsentText.purpose_id == purpose.id)
    return list(session.exec(query.order_by(ConsentText.language, col(ConsentText.version).desc())))


def add_consent_text(
    session: Session, *, purpose: Purpose, data: ConsentTextCreate, actor_id: int | None
) -> ConsentText:
    """A new version of the purpose's text in a language; earlier ones stay as they were,
    and consents given to them ask for renewal."""
    latest = session.exec(
        select(func.max(ConsentText.version)).where(
            ConsentText.purpose_id == purpose.id, ConsentText.language == data.language
        )
    ).one()
    text = ConsentText(
        purpose_id=purpose.id,
        language=data.language,
        version=(latest or 0) + 1,
        body=data.body,
        sha256=hashlib.sha256(data.body.encode()).hexdigest(),
        created_by_id=actor_id,
    )
    return audit.save(session, text, actor_id=actor_id, action="consent_text.create")


def _latest_text(session: Session, purpose: Purpose, language: str) -> ConsentText | None:
    query = (
        select(ConsentText)
        .where(ConsentText.purpose_id == purpose.id, ConsentText.language == language)
        .order_by(col(ConsentText.version).desc())
        .limit(1)
    )
    return session.exec(query).first()


# --- consent --------------------------------------------------------------------------


DECISIONS = (ConsentAction.GRANTED, ConsentAction.WITHDRAWN)


def decision(contact_id: Any, purpose_id: Any) -> Any:
    """The action of the latest grant or withdrawal for a contact and purpose, as a SQL
    expression (columns or values): what the consent is now."""
    return (
        select(ConsentEvent.action)
        .where(
            ConsentEvent.contact_id == contact_id,
            ConsentEvent.purpose_id == purpose_id,
            col(ConsentEvent.action).in_(DECISIONS),
        )
        .order_by(col(ConsentEvent.occurred_at).desc(), col(ConsentEvent.id).desc())
        .limit(1)
        # the contact and purpose come from whichever enclosing query names them
        .correlate_except(ConsentEvent)
        .scalar_subquery()
    )


def is_granted(session: Session, contact_id: int, purpose_id: int) -> bool:
    return session.execute(select(decision(contact_id, purpose_id))).scalar() == (
        ConsentAction.GRANTED
    )


def save_event(
    session: Session, *, contact: Contact, event: ConsentEvent, actor_id: int | None
) -> ConsentEvent:
    """Append to the log; a grant lifts the hold on someone entered again after an
    objection or erasure."""
    if event.action == ConsentAction.GRANTED and contact.suppressed_at is not None:
        rights.lift_suppression(session, contact=contact)
    return audit.save(session, event, actor_id=actor_id, action=f"consent.{event.action}")


def record_consent(
    session: Session,
    *,
    contact: Contact,
    data: ConsentChange,
    actor_id: int | None,
    ip: str | None = None,
    user_agent: str | None = None,
    default_language: str = "en",
) -> ConsentEvent:
    """Add a line to the contact's consent log. A grant names the current text of the
    purpose in the contact's language; a withdrawal takes effect at once."""
    purpose = purpose_by_key(session, data.purpose)
    occurred_at = data.occurred_at or utcnow()
    if occurred_at > utcnow() + timedelta(minutes=5):
        raise Invalid(N_("The time cannot lie in the future."), field="occurred_at")
    text = None
    if data.action in (ConsentAction.GRANTED, ConsentAction.OPT_IN_SENT):
        language = data.language or contact.language or default_language
        text = _latest_text(session, purpose, language)
        if text is None:
            raise Invalid(
                N_("This purpose has no consent text in %(language)s yet."),
                field="language",
                language=language,
            )
    if data.action == ConsentAction.WITHDRAWN and not is_granted(session, contact.id, purpose.id):
        raise Conflict(N_("There is no consent to this purpose to withdraw."))
    event = ConsentEvent(
        contact_id=contact.id,
        purpose_id=purpose.id,
        action=data.action,
        source=data.source,
        consent_text_id=text.id if text else None,
        occurred_at=occurred_at,
        recorded_by_id=actor_id,
        ip=ip,
        user_agent=(user_agent or "")[:500] or None,
        note=data.note,
    )
    return save_event(session, contact=contact, event=event, actor_id=actor_id)


def consents_of(session: Session, *, contact: Contact) -> Consents:
    """The contact's consent per purpose (for every purpose that asks for consent, and
    any other with a record), and the whole log, newest first."""
    purposes = {p.id: p for p in list_purposes(session)}
    events = list(
        session.exec(
            select(ConsentEvent)
            .where(ConsentEvent.contact_id == contact.id)
            .order_by(col(ConsentEvent.occurred_at).desc(), col(ConsentEvent.id).desc())
        )
    )
    text_ids = {e.consent_text_id for e in events if e.consent_text_id}
    texts = {
        t.id: t for t in session.exec(select(ConsentText).where(col(ConsentText.id).in_(text_ids)))
    }
    newest = {
        (purpose_id, language): version
        for purpose_id, language, version in session.execute(
            select(
                ConsentText.purpose_id, ConsentText.language, func.max(ConsentText.version)
            ).group_by(ConsentText.purpose_id, ConsentText.language)
        ).all()
    }
    decided: dict[int, ConsentEvent] = {}
    for event in events:
        if event.action in (ConsentAction.GRANTED, ConsentAction.WITHDRAWN):
            decided.setdefault(event.purpose_id, event)
    states = []
    for purpose in purposes.values():
        last = decided.get(purpose.id)
        if last is None and (purpose.legal_basis != LegalBasis.CONSENT or not purpose.is_active):
            continue
        granted = last is not None and last.action == ConsentAction.GRANTED
        text = texts.get(last.consent_text_id) if last and last.consent_text_id else None
        current = newest.get((purpose.id, text.language)) if text else None
        states.append(
            ConsentState(
                purpose=purpose.key,
                purpose_name=purpose.name,
                granted=granted,
                since=last.occurred_at if last else None,
                text_version=text.version if text and granted else None,
                latest_version=current,
                needs_renewal=bool(granted and text and current and current > text.version),
            )
        )
    log = [_event_public(e, purposes[e.purpose_id], texts.get(e.consent_text_id)) for e in events]
    return Consents(states=states, log=log)


def _event_public(
    event: ConsentEvent, purpose: Purpose, text: ConsentText | None
) -> ConsentEventPublic:
    return ConsentEventPublic.model_validate(
        event,
        from_attributes=True,
        update={
            "purpose": purpose.key,
            "text_version": text.version if text else None,
            "text_sha256": text.sha256 if text else None,
        },
    )


def event_public(session: Session, event: ConsentEvent) -> ConsentEventPublic:
    """One line of the log as the API shows it."""
    text = session.get(ConsentText, event.consent_text_id) if event.consent_text_id else None
    return _event_public(event, session.get(Purpose, event.purpose_id), text)


def withdrawal_token(secret_key: str, *, contact_id: int, purpose: str) -> str:
    """A link token that lets the contact withdraw one consent without logging in."""
    return URLSafeSerializer(secret_key, salt=WITHDRAWAL_SALT).dumps([contact_id, purpose])


def read_withdrawal_token(secret_key: str, token: str) -> tuple[int, str]:
    try:
        contact_id, purpose = URLSafeSerializer(secret_key, salt=WITHDRAWAL_SALT).loads(token)
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound(N_("This link is not valid.")) from exc
    return int(contact_id), str(purpose)


def withdraw_by_link(
    session: Session, *, secret_key: str, token: str, ip: str | None, user_agent: str | None
) -> ConsentEvent | None:
    """The contact's own withdrawal through their link; None when there was nothing left
    to withdraw (a second click changes nothing)."""
    contact_id, purpose = read_withdrawal_token(secret_key, token)
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(N_("This link is not valid."))
    if not is_granted(session, contact.id, purpose_by_key(session, purpose).id):
        return None
    change = ConsentChange(
        purpose=purpose, action=ConsentAction.WITHDRAWN, source=ConsentSource.LINK
    )
    return record_consent(
        session, contact=contact, data=change, actor_id=None, ip=ip, user_agent=user_agent
    )
