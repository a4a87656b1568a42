"""Double opt-in: the consent text goes to the contact's address with a link, and only
their click on it records the consent, with the click's evidence (time, IP, browser)."""

from collections.abc import Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, col, select

from crm.contacts.models import Contact
from crm.core.errors import N_, Invalid, NotFound
from crm.core.i18n import translations
from crm.gdpr.models import (
    ConsentAction,
    ConsentChange,
    ConsentEvent,
    ConsentSource,
    ConsentText,
    Purpose,
)
from crm.gdpr.service import DECISIONS, record_consent, save_event

SALT = "crm.double-opt-in"
VALID_DAYS = 7


def start(
    session: Session,
    *,
    contact: Contact,
    purpose: str,
    actor_id: int | None,
    secret_key: str,
    link: Callable[[str], str],
    send: Callable[[str, str, str], None],
    default_language: str = "en",
) -> ConsentEvent:
    """Record that the confirmation went out and send it; a failed sending raises, and
    the caller's transaction keeps nothing of it."""
    if not contact.email:
        raise Invalid(N_("This contact has no e-mail address to confirm with."), field="purpose")
    sent = record_consent(
        session,
        contact=contact,
        data=ConsentChange(
            purpose=purpose, action=ConsentAction.OPT_IN_SENT, source=ConsentSource.EMAIL
        ),
        actor_id=actor_id,
        default_language=default_language,
    )
    text = session.get(ConsentText, sent.consent_text_id)
    token = URLSafeTimedSerializer(secret_key, salt=SALT).dumps([contact.id, sent.id])
    gettext = translations(text.language).gettext
    name = session.get(Purpose, sent.purpose_id).name
    body = "\n\n".join(
        [
            text.body,
            gettext(N_("To agree, open this link within 7 days:")),
            link(token),
            gettext(N_("If you did not ask for this, ignore this message: nothing happens.")),
        ]
    )
    send(contact.email, gettext(N_("Please confirm: %(purpose)s")) % {"purpose": name}, body)
    return sent


def _sent(session: Session, secret_key: str, token: str) -> ConsentEvent:
    try:
        contact_id, sent_id = URLSafeTimedSerializer(secret_key, salt=SALT).loads(
            token, max_age=VALID_DAYS * 24 * 3600
        )
    except (BadSignature, ValueError, TypeError) as exc:
        raise NotFound(N_("This link is not valid, or it has expired.")) from exc
    sent = session.get(ConsentEvent, sent_id)
    if sent is None or sent.contact_id != contact_id or sent.action != ConsentAction.OPT_IN_SENT:
        raise NotFound(N_("This link is not valid, or it has expired."))
    return sent


def purpose_of(session: Session, *, secret_key: str, token: str) -> Purpose:
    return session.get(Purpose, _sent(session, secret_key, token).purpose_id)


def confirm(
    session: Session, *, secret_key: str, token: str, ip: str | None, user_agent: str | None
) -> ConsentEvent | None:
    """The contact's click: their consent, to the text they were sent. A second click
    records nothing more."""
    sent = _sent(session, secret_key, token)
    decided_since = select(ConsentEvent.id).where(
        ConsentEvent.contact_id == sent.contact_id,
        ConsentEvent.purpose_id == sent.purpose_id,
        col(ConsentEvent.action).in_(DECISIONS),
        ConsentEvent.occurred_at >= sent.occurred_at,
    )
    if session.exec(decided_since).first() is not None:
        return None  # confirmed already, or withdrawn since: the newer decision stands
    contact = session.get(Contact, sent.contact_id)
    evidence = {
        "contact_id": sent.contact_id,
        "purpose_id": sent.purpose_id,
        "source": ConsentSource.EMAIL,
        "consent_text_id": sent.consent_text_id,
        "ip": ip,
        "user_agent": (user_agent or "")[:500] or None,
    }
    confirmed = ConsentEvent(action=ConsentAction.OPT_IN_CONFIRMED, **evidence)
    save_event(session, contact=contact, event=confirmed, actor_id=None)
    granted = ConsentEvent(action=ConsentAction.GRANTED, **evidence)
    return save_event(session, contact=contact, event=granted, actor_id=None)
