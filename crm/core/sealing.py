"""Secrets the CRM must use again itself (a mailbox's password), kept encrypted with a
key derived from CRM_SECRET_KEY: a copy of the database alone does not give them away."""

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crm.core.errors import N_, Unavailable


def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, *, secret_key: str, purpose: str) -> str:
    return _fernet(secret_key, purpose).encrypt(value.encode()).decode()


def unseal(token: str, *, secret_key: str, purpose: str) -> str:
    try:
        return _fernet(secret_key, purpose).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise Unavailable(
            N_("The stored password cannot be read (CRM_SECRET_KEY changed?): enter it again.")
        ) from exc
