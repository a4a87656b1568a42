"""Companies and the people (contacts) the CRM follows through their journey.

A company's own data (name, switchboard, generic e-mail) is not personal data; a
contact's name, e-mail addresses, phone numbers and notes are.
"""

import re
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints, field_validator
from sqlalchemy import Index
from sqlmodel import Field, Relationship, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow, version_column
from crm.core.schemas import Day, Strict, blank_is_none
from crm.core.settings import get_settings


class BuyingRole(StrEnum):
    """A contact's part in the company's buying centre."""

    DECISION_MAKER = "decision_maker"
    INFLUENCER = "influencer"
    USER = "user"
    BUYER = "buyer"
    GATEKEEPER = "gatekeeper"
    OTHER = "other"


class Company(SQLModel, table=True):
    __tablename__ = "company"
    # One index per list order, so that keyset pages are index range scans.
    __table_args__ = (
        Index("ix_company_sort_name", "name", "id"),
        Index("ix_company_sort_created", "created_at", "id"),
    )

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=200)
    website: str | None = column(Privacy.NONE, default=None, max_length=300)
    domain: str | None = column(Privacy.NONE, default=None, max_length=200, index=True)
    industry: str | None = column(Privacy.NONE, default=None, max_length=100)
    size_band: str | None = column(Privacy.NONE, default=None, max_length=20)
    segment: str | None = column(Privacy.NONE, default=None, max_length=100, index=True)
    street: str | None = column(Privacy.NONE, default=None, max_length=200)
    postal_code: str | None = column(Privacy.NONE, default=None, max_length=20)
    city: str | None = column(Privacy.NONE, default=None, max_length=100)
    country: str | None = column(Privacy.NONE, default=None, max_length=2)
    phone: str | None = column(Privacy.NONE, default=None, max_length=32)
    email: str | None = column(Privacy.NONE, default=None, max_length=254)
    owner_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=10_000)
    # When the contract comes up for renewal: follow-up rules count down to it.
    renewal_date: date | None = column(Privacy.NONE, default=None, index=True)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)

    tag_rows: list["Tag"] = Relationship(
        sa_relationship_kwargs={
            "secondary": "company_tag",
            "lazy": "select",
            "order_by": "Tag.key",
        },
    )

    @property
    def tags(self) -> list[str]:
        return [tag.name for tag in self.tag_rows]


class Tag(SQLModel, table=True):
    """A free label on contacts and companies ("VIP", "trade fair 2026")."""

    __tablename__ = "tag"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    name: str = column(Privacy.NONE, max_length=50)
    # Lower-cased name: tags are the same whatever their case.
    key: str = column(Privacy.NONE, max_length=50, unique=True)


class ContactTag(SQLModel, table=True):
    __tablename__ = "contact_tag"

    contact_id: int = column(
        Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE", primary_key=True
    )
    tag_id: int = column(
        Privacy.NONE, foreign_key="tag.id", ondelete="CASCADE", primary_key=True, index=True
    )


class CompanyTag(SQLModel, table=True):
    __tablename__ = "company_tag"

    company_id: int = column(
        Privacy.NONE, foreign_key="company.id", ondelete="CASCADE", primary_key=True
    )
    tag_id: int = column(
        Privacy.NONE, foreign_key="tag.id", ondelete="CASCADE", primary_key=True, index=True
    )


_CONTACT_VERSION = version_column()


class Contact(SQLModel, table=True):
    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_sort_name", "last_name", "first_name", "id"),
        Index("ix_contact_sort_created", "created_at", "id"),
    )
    __mapper_args__ = {"version_id_col": _CONTACT_VERSION}

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    first_name: str = column(Privacy.PERSONAL, max_length=100)
    last_name: str = column(Privacy.PERSONAL, max_length=100)
    job_title: str | None = column(Privacy.PERSONAL, default=None, max_length=200)
    # Copies of the primary address and number (position 0), kept by the service, so
    # that lists show them without loading every contact's addresses and numbers.
    email: str | None = column(Privacy.PERSONAL, default=None, max_length=254)
    phone: str | None = column(Privacy.PERSONAL, default=None, max_length=32)
    company_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="company.id", ondelete="SET NULL", index=True
    )
    buying_role: str | None = column(Privacy.NONE, default=None, max_length=32)
    owner_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    segment: str | None = column(Privacy.NONE, default=None, max_length=100, index=True)
    source: str | None = column(Privacy.NONE, default=None, max_length=100)
    language: str | None = column(Privacy.NONE, default=None, max_length=8)
    notes: str | None = column(Privacy.FREE_TEXT, default=None, max_length=10_000)
    # Lower-cased names, addresses, numbers and company name, kept by the service on
    # every write; FTS5 (SQLite) or a pg_trgm index (PostgreSQL) finds substrings in it.
    search_text: str = column(Privacy.PERSONAL, default="", max_length=2_000)
    # Art. 18: processing restricted; the record is read-only and out of all automation.
    restricted_at: datetime | None = timestamp(default=None)
    # Art. 21(2): objected to direct marketing; no marketing of any kind.
    objected_at: datetime | None = timestamp(default=None)
    # Created again after an objection or an erasure: held back from marketing until the
    # person consents anew.
    suppressed_at: datetime | None = timestamp(default=None)
    version: int = Field(default=1, sa_column=_CONTACT_VERSION)
    created_at: datetime = timestamp(default_factory=utcnow)
    updated_at: datetime = timestamp(default_factory=utcnow)

    # Loaded when used: lists show the primary copies above instead.
    email_rows: list["ContactEmail"] = Relationship(
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "order_by": "ContactEmail.position",
        },
    )
    phone_rows: list["ContactPhone"] = Relationship(
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "order_by": "ContactPhone.position",
        },
    )
    tag_rows: list[Tag] = Relationship(
        sa_relationship_kwargs={
            "secondary": "contact_tag",
            "lazy": "select",
            "order_by": "Tag.key",
        },
    )

    @property
    def tags(self) -> list[str]:
        return [tag.name for tag in self.tag_rows]

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def emails(self) -> list[str]:
        return [row.email for row in self.email_rows]

    @property
    def phones(self) -> list[str]:
        return [row.number for row in self.phone_rows]

    def set_emails(self, emails: list[str]) -> None:
        self.email_rows = [ContactEmail(email=e, position=i) for i, e in enumerate(emails)]
        self.email = emails[0] if emails else None

    def set_phones(self, phones: list[str]) -> None:
        self.phone_rows = [ContactPhone(number=p, position=i) for i, p in enumerate(phones)]
        self.phone = phones[0] if phones else None


class ContactEmail(SQLModel, table=True):
    """One of a contact's addresses; position 0 is the primary one."""

    __tablename__ = "contact_email"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int = column(Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE", index=True)
    # Stored lower-cased, so the unique constraint makes addresses unique in any case.
    email: str = column(Privacy.PERSONAL, max_length=254, unique=True)
    position: int = column(Privacy.NONE, default=0)


class ContactPhone(SQLModel, table=True):
    """One of a contact's phone numbers in E.164 form; position 0 is the primary one."""

    __tablename__ = "contact_phone"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    contact_id: int = column(Privacy.NONE, foreign_key="contact.id", ondelete="CASCADE", index=True)
    number: str = column(Privacy.PERSONAL, max_length=32, index=True)
    position: int = column(Privacy.NONE, default=0)


# A local part that email-validator keeps as it is: an ASCII dot-atom (RFC 5322).
PLAIN_LOCAL_PART = re.compile(r"[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*", re.ASCII)


def normalize_email(value: str) -> str:
    """The address as email-validator normalizes it, in lower case. Imports check
    thousands of addresses that share a few domains: for plain local parts only the
    domain needs email-validator's work, and that is cached."""
    value = value.strip()
    local, _, domain = value.rpartition("@")
    if len(local) <= 64 and PLAIN_LOCAL_PART.fullmatch(local):
        address = f"{local}@{_email_domain(domain)}"
        if len(address) <= 254:
            return address.lower()
    return _validated(value)


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str:
    return _validated(f"x@{domain}").partition("@")[2]


def _validated(value: str) -> str:
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid e-mail address: {exc}") from exc


def normalize_phone(value: str) -> str:
    """The number in E.164 form; numbers without a country code are read as local ones."""
    try:
        number = phonenumbers.parse(value, get_settings().phone_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_query(digits: str) -> str:
    """A number as people type it (digits and +, no spaces), turned into a substring of
    the E.164 form stored in the search text: "00" becomes "+", and the region's trunk
    prefix ("0" in "030 1234567") goes, leaving digits that follow the country code."""
    if digits.startswith("00"):
        return "+" + digits[2:]
    region = phonenumbers.PhoneMetadata.metadata_for_region(get_settings().phone_region)
    prefix = region.national_prefix if region else None
    if prefix and digits.startswith(prefix):
        return digits[len(prefix) :]
    return digits


def search_text_for(
    *,
    first_name: str,
    last_name: str,
    emails: list[str],
    phones: list[str],
    company_name: str | None,
) -> str:
    """What a contact is found by: names, addresses, numbers (E.164), company."""
    parts = [first_name, last_name, *emails, *phones]
    if company_name:
        parts.append(company_name)
    return " ".join(parts).lower()[:2000]


def _no_duplicates(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("the same value is given twice")
    return values


EmailAddress = Annotated[str, Field(max_length=254), AfterValidator(normalize_email)]
PhoneNumber = Annotated[str, Field(max_length=40), AfterValidator(normalize_phone)]
Emails = Annotated[list[EmailAddress], Field(max_length=10), AfterValidator(_no_duplicates)]
Phones = Annotated[list[PhoneNumber], Field(max_length=10), AfterValidator(_no_duplicates)]
Name = Annotated[str, Field(min_length=1, max_length=100)]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Tags = Annotated[list[TagName], Field(max_length=20)]
Text = Annotated[str, Field(max_length=200)]
Notes = Annotated[str, Field(max_length=10_000)]


class CompanyBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    website: str | None = Field(default=None, max_length=300)
    domain: str | None = Field(default=None, max_length=200)
    industry: str | None = Field(default=None, max_length=100)
    size_band: str | None = Field(default=None, max_length=20)
    segment: str | None = Field(default=None, max_length=100)
    street: str | None = Field(default=None, max_length=200)
    postal_code: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None
    owner_id: int | None = None
    notes: Notes | None = None
    renewal_date: Day | None = None
    tags: Tags = []

    _strip_text = field_validator("*", mode="before")(blank_is_none)


class CompanyCreate(Strict, CompanyBase):
    """What creating a company takes: the base fields, with the name required."""


class CompanyUpdate(Strict, CompanyBase):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class CompanyPublic(CompanyBase):
    id: int
    created_at: datetime
    updated_at: datetime
    renewal_date: date | None = None  # as stored, even from before inputs were bounded


class ContactBase(SQLModel):
    first_name: Name
    last_name: Name
    job_title: Text | None = None
    company_id: int | None = None
    buying_role: BuyingRole | None = None
    owner_id: int | None = None
    segment: str | None = Field(default=None, max_length=100)
    source: str | None = Field(default=None, max_length=100)
    language: str | None = Field(default=None, max_length=8)
    notes: Notes | None = None
    tags: Tags = []

    _strip_text = field_validator("*", mode="before")(blank_is_none)


class ContactCreate(Strict, ContactBase):
    # The first address and the first number are the primary ones.
    emails: Emails = []
    phones: Phones = []


class ContactUpdate(Strict, ContactBase):
    first_name: Name | None = None
    last_name: Name | None = None
    emails: Emails | None = None
    phones: Phones | None = None
    version: int | None = Field(
        default=None, description="The version you edited; if it changed since: 409."
    )


class ContactPublic(ContactBase):
    id: int
    emails: list[str]
    phones: list[str]
    restricted_at: datetime | None
    objected_at: datetime | None
    suppressed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class CompaniesPage(SQLModel):
    items: list[CompanyPublic]
    next_cursor: str | None


class ContactsPage(SQLModel):
    items: list[ContactPublic]
    next_cursor: str | None


class MergeRequest(Strict, SQLModel):
    duplicate_id: int
    # Fields to take from the duplicate; empty fields of the kept record are filled anyway.
    take_from_duplicate: set[str] = set()


class BulkAction(StrEnum):
    ASSIGN_OWNER = "assign_owner"
    ADD_TAG = "add_tag"
    DELETE = "delete"


class BulkRequest(Strict, SQLModel):
    ids: list[int] = Field(min_length=1, max_length=200)
    action: BulkAction
    owner_id: int | None = None
    tag: TagName | None = None
    # Deleting needs saying so twice, as on the page.
    confirm: bool = False


class BulkResult(SQLModel):
    affected: int
