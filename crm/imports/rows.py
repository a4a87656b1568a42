"""What a row of an import becomes: the fields it can fill, how a row is checked, and
how a batch of checked rows is written.

New contacts are written set-based (one INSERT per table and batch), which is what makes
large imports fast; updates of existing records and companies go through the contact
service one by one, with its checks and audit.
"""

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.contacts.models import (
    BuyingRole,
    Company,
    CompanyCreate,
    CompanyUpdate,
    Contact,
    ContactCreate,
    ContactEmail,
    ContactPhone,
    ContactTag,
    ContactUpdate,
    search_text_for,
)
from crm.core import audit
from crm.core.db import insert_rows, reserve_ids, utcnow
from crm.core.errors import N_, CRMError, Invalid
from crm.core.forms import validation_messages
from crm.gdpr import keys
from crm.imports.models import ImportJob, ImportProblem, OnDuplicate
from crm.users.models import User

CONTACT_FIELDS = {
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "full_name": N_("Full name"),
    "email": N_("E-mail"),
    "other_emails": N_("Other e-mail addresses"),
    "phone": N_("Phone"),
    "other_phones": N_("Other phone numbers"),
    "job_title": N_("Job title"),
    "company": N_("Company"),
    "buying_role": N_("Buying role"),
    "owner": N_("Owner"),
    "segment": N_("Segment"),
    "source": N_("Source"),
    "language": N_("Language"),
    "notes": N_("Notes"),
    "tags": N_("Tags"),
}
COMPANY_FIELDS = {
    "name": N_("Name"),
    "website": N_("Website"),
    "domain": N_("Domain"),
    "industry": N_("Industry"),
    "size_band": N_("Size"),
    "segment": N_("Segment"),
    "street": N_("Street"),
    "postal_code": N_("Postal code"),
    "city": N_("City"),
    "country": N_("Country"),
    "phone": N_("Phone"),
    "email": N_("E-mail"),
    "owner": N_("Owner"),
    "notes": N_("Notes"),
    "tags": N_("Tags"),
}
# Fields that several columns may fill; their values are joined.
REPEATABLE = {"other_emails", "other_phones", "notes", "tags"}

# Header cells (lower case, letters and digits only) that name a field, in English and
# German, including the columns of our own CSV export.
ALIASES = {
    "contacts": {
        "firstname": "first_name",
        "givenname": "first_name",
        "vorname": "first_name",
        "lastname": "last_name",
        "surname": "last_name",
        "familyname": "last_name",
        "nachname": "last_name",
        "name": "full_name",
        "fullname": "full_name",
        "email": "email",
        "emailaddress": "email",
        "emailadresse": "email",
        "mail": "email",
        "otheremails": "other_emails",
        "phone": "phone",
        "phonenumber": "phone",
        "telephone": "phone",
        "tel": "phone",
        "mobile": "phone",
        "telefon": "phone",
        "telefonnummer": "phone",
        "mobil": "phone",
        "handy": "phone",
        "otherphones": "other_phones",
        "jobtitle": "job_title",
        "title": "job_title",
        "position": "job_title",
        "funktion": "job_title",
        "berufsbezeichnung": "job_title",
        "company": "company",
        "organization": "company",
        "organisation": "company",
        "account": "company",
        "firma": "company",
        "unternehmen": "company",
        "buyingrole": "buying_role",
        "rolle": "buying_role",
        "owner": "owner",
        "betreuer": "owner",
        "segment": "segment",
        "source": "source",
        "quelle": "source",
        "language": "language",
        "sprache": "language",
        "notes": "notes",
        "note": "notes",
        "notizen": "notes",
        "bemerkung": "notes",
        "tags": "tags",
        "labels": "tags",
        "schlagworte": "tags",
    },
    "companies": {
        "name": "name",
        "company": "name",
        "companyname": "name",
        "firma": "name",
        "firmenname": "name",
        "unternehmen": "name",
        "website": "website",
        "web": "website",
        "url": "website",
        "domain": "domain",
        "industry": "industry",
        "branche": "industry",
        "sizeband": "size_band",
        "size": "size_band",
        "groesse": "size_band",
        "größe": "size_band",
        "segment": "segment",
        "street": "street",
        "address": "street",
        "strasse": "street",
        "straße": "street",
        "postalcode": "postal_code",
        "zip": "postal_code",
        "zipcode": "postal_code",
        "plz": "postal_code",
        "postleitzahl": "postal_code",
        "city": "city",
        "ort": "city",
        "stadt": "city",
        "country": "country",
        "land": "country",
        "phone": "phone",
        "telefon": "phone",
        "email": "email",
        "owner": "owner",
        "betreuer": "owner",
        "notes": "notes",
        "notizen": "notes",
        "tags": "tags",
    },
}
# Buying roles as people write them, beside the stored values.
ROLE_WORDS = {
    "decision maker": BuyingRole.DECISION_MAKER,
    "entscheider": BuyingRole.DECISION_MAKER,
    "beeinflusser": BuyingRole.INFLUENCER,
    "anwender": BuyingRole.USER,
    "nutzer": BuyingRole.USER,
    "einkäufer": BuyingRole.BUYER,
    "einkauf": BuyingRole.BUYER,
    "sonstige": BuyingRole.OTHER,
}
LIST_SEPARATORS = re.compile(r"[,;|]")
EMAIL_SEPARATORS = re.compile(r"[,;|\s]+")
# Problem fields named after the import's fields, not the schema's.
FIELD_NAMES = {"emails": "email", "phones": "phone", "owner_id": "owner", "company_id": "company"}


def fields_for(kind: str) -> dict[str, str]:
    return CONTACT_FIELDS if kind == "contacts" else COMPANY_FIELDS


def suggest_mapping(kind: str, columns: list[str]) -> dict[str, str]:
    """Column position -> field, for the header cells we recognise; each field once."""
    aliases, mapping, taken = ALIASES[kind], {}, set()
    for position, cell in enumerate(columns):
        key = "".join(ch for ch in cell.lower() if ch.isalnum())
        target = aliases.get(key) or (key if key in fields_for(kind) else None)
        target = target or next((f for f in fields_for(kind) if f.replace("_", "") == key), None)
        if target and (target in REPEATABLE or target not in taken):
            mapping[str(position)] = target
            taken.add(target)
    return mapping


def values_of(cells: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """The row's cells by the fields they are mapped to."""
    values: dict[str, str] = {}
    for position, target in mapping.items():
        index = int(position)
        cell = cells[index].strip() if index < len(cells) else ""
        if not cell:
            continue
        if target in values:
            values[target] += ("\n" if target == "notes" else ", ") + cell
        else:
            values[target] = cell
    return values


def _split(value: str | None, separators: re.Pattern[str] = LIST_SEPARATORS) -> list[str]:
    return [part.strip() for part in separators.split(value or "") if part.strip()]


@dataclass
class Problem:
    field: str | None
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False


class RowError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def problems_of(exc: ValidationError | CRMError) -> list[Problem]:
    if isinstance(exc, CRMError):
        name = exc.field if isinstance(exc, Invalid) else None
        return [Problem(FIELD_NAMES.get(name or "", name), exc.message, exc.params)]
    return [
        Problem(FIELD_NAMES.get(name, name) or None, message, params)
        for name, message, params in validation_messages(exc)
    ]


@dataclass
class Row:
    number: int
    cells: list[str]
    values: dict[str, str]
    data: Any = None  # the checked ContactCreate or CompanyCreate
    company: str | None = None  # a contact's company, by name
    existing_id: int | None = None


def oldest_companies(session: Session, key: Any, values: set[str]) -> dict[str, int]:
    """Value of ``key`` (a lower-cased name or domain) -> the oldest company that has it."""
    if not values:
        return {}
    found = session.exec(
        select(key, Company.id).where(key.in_(values)).order_by(col(Company.id).desc())
    ).all()
    return dict(found)  # in descending order, so the oldest company's id is kept


class Importer(ABC):
    """Checks and writes the rows of one import; caches what batches share."""

    def __init__(self, session: Session, job: ImportJob) -> None:
        self.job = job
        self.owners = {
            email.lower(): id_ for id_, email in session.exec(select(User.id, User.email))
        }

    def owner_id(self, values: dict[str, str]) -> int | None:
        owner = values.get("owner")
        if not owner:
            return None
        if owner.lower() not in self.owners:
            raise RowError([Problem("owner", N_("No such user."))])
        return self.owners[owner.lower()]

    @abstractmethod
    def check(self, row: Row) -> None:
        """Fill ``row.data`` from its values, or raise RowError."""

    @abstractmethod
    def find_existing(self, session: Session, rows: list[Row]) -> None:
        """Set ``existing_id`` on rows whose record is in the CRM already."""

    @abstractmethod
    def write(self, session: Session, rows: list[Row], problems: list[tuple[Row, Problem]]) -> None:
        """Write the checked rows; add a problem for each row skipped or refused."""


class ContactImporter(Importer):
    def __init__(self, session: Session, job: ImportJob) -> None:
        super().__init__(session, job)
        self.companies: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self.seen: dict[str, int] = {}  # address -> the row of this file that had it

    def check(self, row: Row) -> None:
        values = row.values
        first, last = values.get("first_name"), values.get("last_name")
        if not (first or last) and values.get("full_name"):
            first, _, last = values["full_name"].rpartition(" ")
        role = values.get("buying_role")
        if role:
            role = ROLE_WORDS.get(role.lower(), role.lower().replace(" ", "_").replace("-", "_"))
        try:
            owner_id = self.owner_id(values)
            row.data = ContactCreate(
                first_name=first,
                last_name=last,
                emails=_split(values.get("email"), EMAIL_SEPARATORS)
                + _split(values.get("other_emails"), EMAIL_SEPARATORS),
                phones=_split(values.get("phone")) + _split(values.get("other_phones")),
                job_title=values.get("job_title"),
                buying_role=role,
                owner_id=owner_id,
                segment=values.get("segment"),
                source=values.get("source"),
                language=values.get("language"),
                notes=values.get("notes"),
                tags=_split(values.get("tags")),
            )
        except (ValidationError, CRMError) as exc:
            raise RowError(problems_of(exc)) from exc
        row.company = values.get("company")

    def find_existing(self, session: Session, rows: list[Row]) -> None:
        """Mark rows whose addresses belong to a contact already."""
        emails = [email for row in rows for email in row.data.emails]
        if not emails:
            return
        owners = dict(
            session.exec(
                select(ContactEmail.email, ContactEmail.contact_id).where(
                    col(ContactEmail.email).in_(emails)
                )
            ).all()
        )
        for row in rows:
            row.existing_id = next((owners[e] for e in row.data.emails if e in owners), None)

    def write(self, session: Session, rows: list[Row], problems: list[tuple[Row, Problem]]) -> None:
        self.find_existing(session, rows)
        new, known = [], []
        for row in rows:
            repeated = next((e for e in row.data.emails if e in self.seen), None)
            if repeated:
                problems.append(
                    (
                        row,
                        Problem(
                            "email",
                            N_("Skipped: %(email)s is in row %(row)s of this file already."),
                            {"email": repeated, "row": self.seen[repeated]},
                            skipped=True,
                        ),
                    )
                )
                continue
            self.seen.update(dict.fromkeys(row.data.emails, row.number))
            (known if row.existing_id else new).append(row)
        self._link_companies(session, [*new, *known])
        self._insert(session, new, problems)
        for row in known:
            if self.job.on_duplicate == OnDuplicate.SKIP:
                problems.append(
                    (
                        row,
                        Problem(
                            "email",
                            N_("Skipped: already in the CRM as contact %(contact_id)s."),
                            {"contact_id": row.existing_id},
                            skipped=True,
                        ),
                    )
                )
            else:
                self._update(session, row, problems)

    def _link_companies(self, session: Session, rows: list[Row]) -> None:
        """Companies by name (in any case), created when new."""
        wanted: dict[str, str] = {}
        for row in rows:
            if row.company:
                wanted.setdefault(row.company.lower(), row.company)  # the first spelling
        missing = [key for key in wanted if key not in self.companies]
        if missing:
            self.companies.update(oldest_companies(session, func.lower(Company.name), set(missing)))
            new = [key for key in missing if key not in self.companies]
            if new:
                now = utcnow()
                ids = reserve_ids(session, Company.__table__, len(new))
                insert_rows(
                    session,
                    Company.__table__,
                    [
                        {"id": id_, "name": wanted[key], "created_at": now, "updated_at": now}
                        for id_, key in zip(ids, new, strict=True)
                    ],
                )
                self.companies.update(zip(new, ids, strict=True))
                audit.record_many(
                    session,
                    actor_id=self.job.created_by_id,
                    action="company.import",
                    entity_type="company",
                    entity_ids=ids,
                    fields=["name"],
                )
        for row in rows:
            if row.company:
                row.data.company_id = self.companies[row.company.lower()]

    def _tag_ids(self, session: Session, names: list[str]) -> list[int]:
        missing = [name for name in names if name.lower() not in self.tags]
        if missing:
            for tag in contact_service.tags_named(session, missing):
                session.flush()
                self.tags[tag.key] = tag.id
        return [self.tags[name.lower()] for name in names]

    def _insert(
        self, session: Session, rows: list[Row], problems: list[tuple[Row, Problem]]
    ) -> None:
        """All new contacts in a few statements; when the batch conflicts with something
        written meanwhile, row by row, so that only the conflicting rows fail."""
        if not rows:
            return
        try:
            with session.begin_nested():
                self._insert_all(session, rows)
        except IntegrityError:
            for row in rows:
                try:
                    with session.begin_nested():
                        self._insert_all(session, [row])
                except IntegrityError:
                    problems.append(
                        (row, Problem(None, N_("This row conflicts with data saved meanwhile.")))
                    )

    def _insert_all(self, session: Session, rows: list[Row]) -> None:
        now = utcnow()
        ids = reserve_ids(session, Contact.__table__, len(rows))
        # Those who objected or were erased before: held back from marketing (one query).
        row_keys = [keys.person_keys(row.data.emails, row.data.phones) for row in rows]
        known = keys.suppressed(session, [k for found in row_keys for k in found])
        contacts = [
            {
                "id": id_,
                **row.data.model_dump(exclude={"emails", "phones", "tags"}),
                "email": row.data.emails[0] if row.data.emails else None,
                "phone": row.data.phones[0] if row.data.phones else None,
                "search_text": search_text_for(
                    first_name=row.data.first_name,
                    last_name=row.data.last_name,
                    emails=row.data.emails,
                    phones=row.data.phones,
                    company_name=row.company,
                ),
                "suppressed_at": now if known.intersection(row_key) else None,
                "created_at": now,
                "updated_at": now,
            }
            for id_, row, row_key in zip(ids, rows, row_keys, strict=True)
        ]
        contact_service.insert_contacts(session, contacts)
        emails = [
            {"contact_id": id_, "email": email, "position": position}
            for id_, row in zip(ids, rows, strict=True)
            for position, email in enumerate(row.data.emails)
        ]
        phones = [
            {"contact_id": id_, "number": number, "position": position}
            for id_, row in zip(ids, rows, strict=True)
            for position, number in enumerate(row.data.phones)
        ]
        tags = [
            {"contact_id": id_, "tag_id": tag_id}
            for id_, row in zip(ids, rows, strict=True)
            for tag_id in set(self._tag_ids(session, row.data.tags))
        ]
        for table, values in ((ContactEmail, emails), (ContactPhone, phones), (ContactTag, tags)):
            if values:
                insert_rows(session, table.__table__, values)
        audit.record_many(
            session,
            actor_id=self.job.created_by_id,
            action="contact.import",
            entity_type="contact",
            entity_ids=ids,
            fields=sorted(set(self.job.mapping.values())),
        )
        self.job.created += len(ids)

    def _update(self, session: Session, row: Row, problems: list[tuple[Row, Problem]]) -> None:
        """Fill the existing contact with what the row has; empty cells change nothing,
        addresses, numbers and tags are added to those it has."""
        contact = session.get(Contact, row.existing_id)
        data = row.data
        changes = data.model_dump(
            exclude={"emails", "phones", "tags", "first_name", "last_name"}, exclude_none=True
        )
        update = ContactUpdate.model_validate(
            {
                **changes,
                "first_name": data.first_name,
                "last_name": data.last_name,
                "emails": contact.emails + [e for e in data.emails if e not in contact.emails],
                "phones": contact.phones + [p for p in data.phones if p not in contact.phones],
                "tags": contact.tags
                + [t for t in data.tags if t.lower() not in {c.lower() for c in contact.tags}],
            }
        )
        try:
            with session.begin_nested():
                contact_service.update_contact(
                    session, contact=contact, data=update, actor_id=self.job.created_by_id
                )
        except (CRMError, ValidationError) as exc:
            problems.extend((row, problem) for problem in problems_of(exc))
            return
        self.job.updated += 1


class CompanyImporter(Importer):
    def check(self, row: Row) -> None:
        values = row.values
        try:
            owner_id = self.owner_id(values)
            row.data = CompanyCreate.model_validate(
                {
                    **{k: v for k, v in values.items() if k not in {"owner", "tags"}},
                    "owner_id": owner_id,
                    "tags": _split(values.get("tags")),
                    "country": (values.get("country") or "").upper() or None,
                }
            )
        except (ValidationError, CRMError) as exc:
            raise RowError(problems_of(exc)) from exc

    def find_existing(self, session: Session, rows: list[Row]) -> None:
        """A company is the same when its domain is, or, without a domain, its name (the
        oldest such company); two queries for the whole batch."""
        domains = {
            row.number: row.data.domain or contact_service.domain_of(row.data.website)
            for row in rows
        }
        by_domain = oldest_companies(
            session, func.lower(Company.domain), {d.lower() for d in domains.values() if d}
        )
        by_name = oldest_companies(
            session,
            func.lower(Company.name),
            {r.data.name.lower() for r in rows if not domains[r.number]},
        )
        for row in rows:
            domain = domains[row.number]
            row.existing_id = (
                by_domain.get(domain.lower()) if domain else by_name.get(row.data.name.lower())
            )

    def write(self, session: Session, rows: list[Row], problems: list[tuple[Row, Problem]]) -> None:
        self.find_existing(session, rows)
        actor_id = self.job.created_by_id
        for row in rows:
            if row.existing_id and self.job.on_duplicate == OnDuplicate.SKIP:
                problems.append(
                    (
                        row,
                        Problem(
                            "name",
                            N_("Skipped: already in the CRM as company %(company_id)s."),
                            {"company_id": row.existing_id},
                            skipped=True,
                        ),
                    )
                )
                continue
            try:
                with session.begin_nested():
                    if row.existing_id:
                        company = session.get(Company, row.existing_id)
                        fields = row.data.model_dump(exclude_none=True, exclude={"tags"})
                        fields["tags"] = company.tags + [
                            t
                            for t in row.data.tags
                            if t.lower() not in {c.lower() for c in company.tags}
                        ]
                        contact_service.update_company(
                            session,
                            company=company,
                            data=CompanyUpdate.model_validate(fields),
                            actor_id=actor_id,
                        )
                    else:
                        contact_service.create_company(session, data=row.data, actor_id=actor_id)
            except (CRMError, ValidationError) as exc:
                problems.extend((row, problem) for problem in problems_of(exc))
                continue
            if row.existing_id:
                self.job.updated += 1
            else:
                self.job.created += 1


IMPORTERS: dict[str, type[Importer]] = {"contacts": ContactImporter, "companies": CompanyImporter}


def save_problems(session: Session, job: ImportJob, problems: list[tuple[Row, Problem]]) -> None:
    if not problems:
        return
    insert_rows(
        session,
        ImportProblem.__table__,
        [
            {
                "job_id": job.id,
                "row": row.number,
                "skipped": problem.skipped,
                "field": problem.field,
                "message": problem.message,
                "params": problem.params,
                "cells": row.cells,
            }
            for row, problem in problems
        ],
    )
    rows = {id(row): problem.skipped for row, problem in problems}
    job.skipped += sum(1 for skipped in rows.values() if skipped)
    job.failed += sum(1 for skipped in rows.values() if not skipped)
