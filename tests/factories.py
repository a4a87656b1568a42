"""Test data, made through the services so that it passes the same rules."""

import itertools

from sqlmodel import Session

from crm.contacts import service as contact_service
from crm.contacts.models import Company, CompanyCreate, Contact, ContactCreate
from crm.touchpoints import service as touchpoint_service
from crm.touchpoints.models import Touchpoint, TouchpointCreate
from crm.users import service as user_service
from crm.users.models import Role, User, UserCreate

PASSWORD = "correct horse battery"
_sequence = itertools.count(1)


def make_user(
    session: Session,
    *,
    roles: tuple[Role, ...] = (Role.SALES_REP,),
    email: str | None = None,
    name: str | None = None,
    password: str = PASSWORD,
    language: str | None = None,
) -> User:
    number = next(_sequence)
    data = UserCreate(
        email=email or f"user{number}@example.com",
        name=name or f"User {number}",
        roles=set(roles),
        language=language,
    )
    user = user_service.create_user(session, data=data, password=password, actor_id=None)
    session.commit()
    return user


def make_token(session: Session, user: User, name: str = "test") -> str:
    _, secret = user_service.create_token(session, user=user, name=name)
    session.commit()
    return secret


def make_company(session: Session, **fields: object) -> Company:
    data = CompanyCreate(**{"name": f"Company {next(_sequence)}", **fields})
    company = contact_service.create_company(session, data=data, actor_id=None)
    session.commit()
    return company


def make_contact(session: Session, **fields: object) -> Contact:
    number = next(_sequence)
    values = {
        "first_name": "Person",
        "last_name": f"Number{number:05d}",
        "emails": [f"person{number}@example.com"],
        **fields,
    }
    contact = contact_service.create_contact(session, data=ContactCreate(**values), actor_id=None)
    session.commit()
    return contact


def log_touchpoint(session: Session, **fields: object) -> Touchpoint:
    values = {"summary": "Talked", "channel": "call", **fields}
    touchpoint = touchpoint_service.log_touchpoint(
        session, data=TouchpointCreate(**values), actor_id=None
    )
    session.commit()
    return touchpoint
