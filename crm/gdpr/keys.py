"""Keyed hashes of a person's addresses and numbers, for the suppression list: HMAC with
the server's secret, so that the list recognises someone entered again but cannot be
turned back into addresses, nor matched against another installation's."""

import hashlib
import hmac
from collections.abc import Iterable

from sqlmodel import Session, col, select

from crm.core.settings import get_settings
from crm.gdpr.models import Suppression


def person_keys(emails: Iterable[str], phones: Iterable[str]) -> list[str]:
    """Addresses lower-cased, numbers as stored (E.164)."""
    secret = get_settings().secret_key.encode()
    values = [f"email:{e.strip().lower()}" for e in emails] + [f"phone:{p}" for p in phones]
    return [hmac.new(secret, v.encode(), hashlib.sha256).hexdigest() for v in values]


def suppressed(session: Session, keys: list[str]) -> set[str]:
    """Which of the keys are on the suppression list."""
    if not keys:
        return set()
    query = select(Suppression.key_hash).where(col(Suppression.key_hash).in_(keys))
    return set(session.exec(query))
