"""Idempotency keys: a client that sends `Idempotency-Key` with a create may retry it
(a timeout, a dropped connection) without creating the record twice. The key remembers
which record its first request created, never the answer's values, so that nothing
personal is kept here; a retry is answered with that record as it is now.

A key belongs to its user, holds for a day, and to one request: the same key with
another body or on another path is refused.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Header, Request
from sqlalchemy import UniqueConstraint, delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select

from crm.core.db import Privacy, column, timestamp, utcnow
from crm.core.errors import N_, Conflict, Invalid

KEEP_FOR = timedelta(days=1)
Record = TypeVar("Record")


class IdempotentRequest(SQLModel, table=True):
    __tablename__ = "idempotent_request"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    user_id: int = column(Privacy.NONE, foreign_key="user.id", ondelete="CASCADE")
    key: str = column(Privacy.NONE, max_length=255)
    # What the request asked: its method, path and body, hashed.
    fingerprint: str = column(Privacy.NONE, max_length=64)
    record_id: int | None = column(Privacy.NONE, default=None)
    created_at: datetime = timestamp(default_factory=utcnow, index=True)


KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Any unique text (a UUID, say): a retry with the same key and body "
        "answers with what the first request created, and creates nothing again.",
    ),
]


@dataclass
class Once:
    """A create request's key: runs the create unless a request with this key made its
    record already, and answers that record then."""

    session: Session
    request: Request
    user_id: int
    key: str | None

    def __call__(self, body: SQLModel, model: type[Record], create: Callable[[], Record]) -> Record:
        if self.key is None:
            return create()
        text = f"{self.request.method} {self.request.url.path} {body.model_dump_json()}"
        fingerprint = hashlib.sha256(text.encode()).hexdigest()
        query = select(IdempotentRequest).where(
            IdempotentRequest.user_id == self.user_id, IdempotentRequest.key == self.key
        )
        seen = self.session.exec(query).first()
        if seen is not None and seen.fingerprint != fingerprint:
            raise Invalid(
                N_("This Idempotency-Key was used for another request."), field="Idempotency-Key"
            )
        if seen is not None:
            record: Any = self.session.get(model, seen.record_id)
            if record is None:
                raise Conflict(
                    N_("The record this Idempotency-Key created has been deleted since.")
                )
            return record
        claim = IdempotentRequest(user_id=self.user_id, key=self.key, fingerprint=fingerprint)
        try:
            with self.session.begin_nested():
                self.session.add(claim)
        except IntegrityError as exc:  # PostgreSQL: a request with this key committed meanwhile
            raise Conflict(
                N_("A request with this Idempotency-Key is being handled; retry in a moment.")
            ) from exc
        made: Any = create()
        claim.record_id = made.id
        self.session.flush()
        return made


def purge(session: Session, *, now: datetime | None = None) -> int:
    """Forget keys older than a day; how many went."""
    cutoff = (now or utcnow()) - KEEP_FOR
    result: Any = session.execute(
        delete(IdempotentRequest).where(IdempotentRequest.created_at < cutoff)
    )
    return result.rowcount
