"""Companies and contacts: create, change, delete, find. No HTTP in here."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import delete, func, text, update
from sqlalchemy.orm import joinedload, selectinload
from sqlmodel import Session, col, select

from crm.contacts import search, vcard
from crm.contacts.models import (
    BulkAction,
    BulkRequest,
    Company,
    CompanyCreate,
    CompanyTag,
    CompanyUpdate,
    Contact,
    ContactCreate,
    ContactEmail,
    ContactTag,
    ContactUpdate,
    Tag,
    search_text_for,
)
from crm.core import audit
from crm.core.db import insert_rows, utcnow
from crm.core.errors import N_, Conflict, Invalid, NotFound, check_version
from crm.core.merge import repoint_references
from crm.core.pagination import MAX_LIMIT, Paging, keyset_page
from crm.deals import figures as deal_figures
from crm.gdpr import keys
from crm.journeys import attribution
from crm.journeys.models import Enrollment
from crm.touchpoints.models import Touchpoint
from crm.users.models import User

SORTS = ("name", "-name", "created", "-created")


def domain_of(website: str | None) -> str | None:
    if not website:
        return None
    host = website.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    host = host.removeprefix("www.")
    # No real host name is longer than the domain column (200); such a website has none.
    return host if 0 < len(host) <= 200 else None


def _check_owner(session: Session, owner_id: int | None) -> None:
    if owner_id is not None and session.get(User, owner_id) is None:
        raise Invalid(N_("No such user."), field="owner_id")


# --- companies ----------------------------------------------------------------------


def get_company(session: Session, *, company_id: int) -> Company:
    company = session.get(Company, company_id)
    if company is None:
        raise NotFound(N_("No such company."))
    return company


def tags_named(session: Session, names: list[str]) -> list[Tag]:
    """The tags with these names, created when new; the same name in any case is one tag."""
    tags: dict[str, Tag] = {}
    for name in names:
        key = name.strip().lower()
        if key and key not in tags:
            tag = session.exec(select(Tag).where(Tag.key == key)).first()
            if tag is None:
                tag = Tag(name=name.strip(), key=key)
                session.add(tag)
            tags[key] = tag
    return sorted(tags.values(), key=lambda tag: tag.key)


def _tags_differ(wanted: list[str], current: list[str]) -> bool:
    """Whether a new list of tags changes anything (tags are the same in any case)."""
    return {t.strip().lower() for t in wanted} != {t.lower() for t in current}


def _tagged(linked: Any, tag: str) -> Any:
    """The ids (``linked``, a link table's column) of the records that carry ``tag``."""
    return select(linked).join(Tag).where(Tag.key == tag.strip().lower())


def list_tags(session: Session) -> list[Tag]:
    return list(session.exec(select(Tag).order_by(Tag.key)))


def create_company(session: Session, *, data: CompanyCreate, actor_id: int | None) -> Company:
    _check_owner(session, data.owner_id)
    company = Company.model_validate(data.model_dump(exclude={"tags"}))
    company.tag_rows = tags_named(session, data.tags)
    company.domain = company.domain or domain_of(company.website)
    return audit.save(
        session,
        company,
        actor_id=actor_id,
        action="company.create",
        fields=data.model_dump(exclude_none=True).keys(),
    )


def update_company(
    session: Session, *, company: Company, data: CompanyUpdate, actor_id: int | None
) -> Company:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name", "") is None:
        raise Invalid(N_("This field is required."), field="name")
    if "owner_id" in changes:
        _check_owner(session, changes["owner_id"])
    if "website" in changes and "domain" not in changes:
        changes["domain"] = domain_of(changes["website"])
    tags = changes.pop("tags", None)
    changed = [name for name, value in changes.items() if getattr(company, name) != value]
    if tags is not None and _tags_differ(tags, company.tags):
        company.tag_rows = tags_named(session, tags)
        changed.append("tags")
    if not changed:
        return company
    company.sqlmodel_update(changes)
    company.updated_at = utcnow()
    if "segment" in changed:
        _copy_segment(session, Enrollment.company_id, company)
    if "name" in changed:
        # Its people are found by the company's name too.
        for contact in session.exec(select(Contact).where(Contact.company_id == company.id)):
            contact.search_text = _search_text(contact, company)
            session.add(contact)
    return audit.save(session, company, actor_id=actor_id, action="company.update", fields=changed)


def delete_company(session: Session, *, company: Company, actor_id: int | None) -> None:
    """Delete a company and what was logged with it alone; its contacts stay, unlinked."""
    session.exec(
        delete(Touchpoint).where(
            col(Touchpoint.company_id) == company.id, col(Touchpoint.contact_id).is_(None)
        )
    )
    audit.delete(session, company, actor_id=actor_id, action="company.delete")


def list_companies(
    session: Session,
    *,
    q: str | None = None,
    owner_id: int | None = None,
    segment: str | None = None,
    tag: str | None = None,
    abc: str | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Company], str | None]:
    _check_sort(sort)
    # Lists show tags: load them for the whole page at once.
    query = select(Company).options(selectinload(Company.tag_rows))
    if tag:
        query = query.where(col(Company.id).in_(_tagged(CompanyTag.company_id, tag)))
    if q:
        query = query.where(func.lower(Company.name).contains(q.strip().lower(), autoescape=True))
    if owner_id is not None:
        query = query.where(Company.owner_id == owner_id)
    if segment:
        query = query.where(Company.segment == segment)
    if abc:
        query = query.where(col(Company.id).in_(deal_figures.in_abc_class(session, abc)))
    keys = (
        [col(Company.name), col(Company.id)]
        if sort.endswith("name")
        else [col(Company.created_at), col(Company.id)]
    )
    return _page(session, query, keys, sort=sort, cursor=cursor, limit=limit)


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise Invalid(N_("Choose one of the offered values."), field="sort")


def _page(
    session: Session,
    query: Any,
    keys: list[Any],
    *,
    sort: str,
    cursor: str | None,
    limit: int,
    paging: Paging = Paging(),
) -> tuple[list[Any], str | None]:
    return keyset_page(
        session,
        query,
        keys,
        descending=sort.startswith("-"),
        cursor=cursor,
        limit=limit,
        paging=paging,
    )


# --- contacts -----------------------------------------------------------------------


def get_contact(session: Session, *, contact_id: int) -> Contact:
    """The contact with its addresses and numbers, in one query."""
    contact = session.get(
        Contact,
        contact_id,
        options=[joinedload(Contact.email_rows), joinedload(Contact.phone_rows)],
    )
    if contact is None:
        raise NotFound(N_("No such contact."))
    return contact


def find_by_email(session: Session, *, email: str) -> Contact | None:
    row = session.exec(select(ContactEmail).where(ContactEmail.email == email.lower())).first()
    return session.get(Contact, row.contact_id) if row else None


def _search_text(contact: Contact, company: Company | None) -> str:
    return search_text_for(
        first_name=contact.first_name,
        last_name=contact.last_name,
        emails=contact.emails,
        phones=contact.phones,
        company_name=company.name if company else None,
    )


def _index(session: Session, contact: Contact) -> None:
    company = session.get(Company, contact.company_id) if contact.company_id else None
    contact.search_text = _search_text(contact, company)


def insert_contacts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert many contacts (ids and search texts given) in a few statements, search
    index included. SQLite's per-row index trigger is paused for the batch (see the
    migration bulk_search_indexing): it costs ten times what indexing them together does."""
    if session.get_bind().dialect.name != "sqlite":
        search.add_words(session, [row["search_text"] for row in rows])
        insert_rows(session, Contact.__table__, rows)
        return
    session.execute(text("INSERT INTO contact_fts_paused (id) VALUES (1)"))
    try:
        insert_rows(session, Contact.__table__, rows)
        session.execute(
            text("INSERT INTO contact_fts (rowid, search_text) VALUES (:id, :search_text)"),
            [{"id": row["id"], "search_text": row["search_text"]} for row in rows],
        )
    finally:
        session.execute(text("DELETE FROM contact_fts_paused"))


def _check_company(session: Session, company_id: int | None) -> None:
    if company_id is not None and session.get(Company, company_id) is None:
        raise Invalid(N_("No such company."), field="company_id")


def _check_emails_free(session: Session, emails: list[str], *, contact_id: int | None) -> None:
    for email in emails:
        existing = find_by_email(session, email=email)
        if existing is not None and existing.id != contact_id:
            error = Conflict(
                N_("%(email)s already belongs to %(name)s."), email=email, name=existing.name
            )
            error.details = {"existing_contact_id": existing.id}
            raise error


def check_not_restricted(contact: Contact) -> None:
    """Art. 18: a restricted contact's record is kept as it is until the DPO lifts it."""
    if contact.restricted_at is not None:
        raise Conflict(
            N_("Processing of this contact is restricted (Art. 18): nothing about them changes.")
        )


def create_contact(session: Session, *, data: ContactCreate, actor_id: int | None) -> Contact:
    _check_company(session, data.company_id)
    _check_owner(session, data.owner_id)
    _check_emails_free(session, data.emails, contact_id=None)
    contact = Contact.model_validate(data.model_dump(exclude={"emails", "phones", "tags"}))
    # Someone who objected or was erased, entered again: no marketing until they consent.
    if keys.suppressed(session, keys.person_keys(data.emails, data.phones)):
        contact.suppressed_at = utcnow()
    contact.tag_rows = tags_named(session, data.tags)
    contact.set_emails(data.emails)
    contact.set_phones(data.phones)
    _index(session, contact)
    return audit.save(
        session,
        contact,
        actor_id=actor_id,
        action="contact.create",
        fields=data.model_dump(exclude_none=True, exclude_defaults=True).keys(),
    )


def update_contact(
    session: Session, *, contact: Contact, data: ContactUpdate, actor_id: int | None
) -> Contact:
    check_not_restricted(contact)
    changes = data.model_dump(exclude_unset=True)
    check_version(contact, changes.pop("version", None))
    for required in ("first_name", "last_name"):
        if required in changes and changes[required] is None:
            raise Invalid(N_("This field is required."), field=required)
    emails, phones = changes.pop("emails", None), changes.pop("phones", None)
    tags = changes.pop("tags", None)
    if "company_id" in changes:
        _check_company(session, changes["company_id"])
    if "owner_id" in changes:
        _check_owner(session, changes["owner_id"])
    changed = [name for name, value in changes.items() if getattr(contact, name) != value]
    if tags is not None and _tags_differ(tags, contact.tags):
        contact.tag_rows = tags_named(session, tags)
        changed.append("tags")
    if emails is not None and emails != contact.emails:
        _check_emails_free(session, emails, contact_id=contact.id)
        # Flush the removals first so that a re-ordered address does not collide with itself.
        contact.email_rows = []
        session.flush()
        contact.set_emails(emails)
        changed.append("emails")
    if phones is not None and phones != contact.phones:
        contact.set_phones(phones)
        changed.append("phones")
    if not changed:
        return contact
    contact.sqlmodel_update(changes)
    contact.updated_at = utcnow()
    _index(session, contact)
    if "segment" in changed:
        _copy_segment(session, Enrollment.contact_id, contact)
    return audit.save(session, contact, actor_id=actor_id, action="contact.update", fields=changed)


def _copy_segment(session: Session, subject: Any, row: Contact | Company) -> None:
    """Enrollments keep a copy of their subject's segment for the journey analytics."""
    session.execute(update(Enrollment).where(subject == row.id).values(segment=row.segment))


def delete_contact(session: Session, *, contact: Contact, actor_id: int | None) -> None:
    check_not_restricted(contact)
    audit.delete(session, contact, actor_id=actor_id, action="contact.delete")


def list_contacts(
    session: Session, *, with_addresses: bool = False, **filters: Any
) -> tuple[list[Contact], str | None]:
    """A page of contacts with their tags (``filters``: see ``_contacts_page``);
    ``with_addresses`` loads all their e-mail addresses and numbers too."""
    query = select(Contact).options(selectinload(Contact.tag_rows))
    if with_addresses:
        query = query.options(selectinload(Contact.email_rows), selectinload(Contact.phone_rows))
    return _contacts_page(session, query, **filters)


class ListedContact(NamedTuple):
    """What the contact list shows of a contact (a template reads a tuple's fields
    several times faster than a database row's)."""

    id: int
    first_name: str
    last_name: str
    job_title: str | None
    email: str | None
    phone: str | None
    company_id: int | None
    created_at: datetime
    company_name: str | None


@dataclass(frozen=True)
class ContactList:
    """A page of the contact list with the contacts' tags: the most requested page,
    read without building records."""

    rows: list[ListedContact]
    next_cursor: str | None
    tags: dict[int, list[str]]


def contact_list(session: Session, **filters: Any) -> ContactList:
    columns = [getattr(Contact, name) for name in ListedContact._fields[:-1]]
    query = select(*columns, Company.name).outerjoin(Company, Company.id == Contact.company_id)
    rows, cursor = _contacts_page(session, query, **filters)
    return ContactList(
        rows=[ListedContact._make(row) for row in rows],
        next_cursor=cursor,
        tags=_tag_names(session, [row.id for row in rows]),
    )


def _tag_names(session: Session, contact_ids: list[int]) -> dict[int, list[str]]:
    query = (
        select(ContactTag.contact_id, Tag.name)
        .join(Tag)
        .where(col(ContactTag.contact_id).in_(contact_ids))
        .order_by(Tag.key)
    )
    names: dict[int, list[str]] = {}
    for contact_id, name in session.exec(query):
        names.setdefault(contact_id, []).append(name)
    return names


def _contacts_page(
    session: Session,
    query: Any,
    *,
    q: str | None = None,
    owner_id: int | None = None,
    company_id: int | None = None,
    segment: str | None = None,
    tag: str | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Any], str | None]:
    """A page of ``query`` (contacts or some of their columns) narrowed by the filters."""
    _check_sort(sort)
    if tag:
        query = query.where(col(Contact.id).in_(_tagged(ContactTag.contact_id, tag)))
    paging = Paging()
    if q and q.strip():
        alone = not (tag or owner_id is not None or company_id is not None or segment)
        query, paging = search.narrow(
            session, query, q, by_name_alone=alone and sort.endswith("name")
        )
    if owner_id is not None:
        query = query.where(Contact.owner_id == owner_id)
    if company_id is not None:
        query = query.where(Contact.company_id == company_id)
    if segment:
        query = query.where(Contact.segment == segment)
    keys = (
        [col(Contact.last_name), col(Contact.first_name), col(Contact.id)]
        if sort.endswith("name")
        else [col(Contact.created_at), col(Contact.id)]
    )
    return _page(session, query, keys, sort=sort, cursor=cursor, limit=limit, paging=paging)


def company_names(session: Session, ids: set[int]) -> dict[int, str]:
    """The names of a page of contacts' companies, in one query (whole rows would cost
    a list page more than its contacts do)."""
    if not ids:
        return {}
    query = select(Company.id, Company.name).where(col(Company.id).in_(ids))
    return dict(session.exec(query).all())


def subject_names(
    session: Session, *, contact_ids: set[int], company_ids: set[int]
) -> dict[tuple[str, int], str]:
    """Contacts' and companies' names by ("contact" or "company", id), one light query
    per kind, for lists that name what they are about (follow-ups, homes)."""
    names = {("company", id_): name for id_, name in company_names(session, company_ids).items()}
    if contact_ids:
        query = select(Contact.id, Contact.first_name, Contact.last_name).where(
            col(Contact.id).in_(contact_ids)
        )
        names.update(
            (("contact", id_), f"{first} {last}".strip())
            for id_, first, last in session.exec(query)
        )
    return names


EXPORT_COLUMNS = [
    "id",
    "first_name",
    "last_name",
    "job_title",
    "company",
    "buying_role",
    "email",
    "other_emails",
    "phone",
    "other_phones",
    "segment",
    "source",
    "language",
    "tags",
    "owner",
    "created_at",
]


def _export_pages(
    session: Session, **filters: Any
) -> Iterator[tuple[list[Contact], dict[int, str]]]:
    """Every contact the filters select, a page at a time, with its companies' names."""
    cursor = None
    while True:
        contacts, cursor = list_contacts(
            session, cursor=cursor, limit=MAX_LIMIT, with_addresses=True, **filters
        )
        yield contacts, company_names(session, {c.company_id for c in contacts if c.company_id})
        session.expunge_all()  # keep memory flat over a long export
        if cursor is None:
            return


def export_rows(session: Session, **filters: Any) -> Iterator[list[Any]]:
    """Every contact the filters select as rows of EXPORT_COLUMNS."""
    owners = dict(session.exec(select(User.id, User.email)).all())
    for contacts, companies in _export_pages(session, **filters):
        for c in contacts:
            yield [
                c.id,
                c.first_name,
                c.last_name,
                c.job_title,
                companies.get(c.company_id, ""),
                c.buying_role,
                (c.emails or [""])[0],
                ", ".join(c.emails[1:]),
                (c.phones or [""])[0],
                ", ".join(c.phones[1:]),
                c.segment,
                c.source,
                c.language,
                ", ".join(c.tags),
                owners.get(c.owner_id, ""),
                c.created_at.isoformat(),
            ]


def export_cards(session: Session, **filters: Any) -> Iterator[str]:
    """Every contact the filters select as a vCard."""
    for contacts, companies in _export_pages(session, **filters):
        for c in contacts:
            yield vcard.card(c, company_name=companies.get(c.company_id))


def contact_card(session: Session, *, contact: Contact) -> str:
    company = session.get(Company, contact.company_id) if contact.company_id else None
    return vcard.card(contact, company_name=company.name if company else None)


def record_export(
    session: Session, *, actor_id: int | None, filters: dict[str, Any], format: str = "csv"
) -> None:
    """Exports carry personal data out of the CRM: who took which selection is audited."""
    audit.record(
        session,
        actor_id=actor_id,
        action=f"contact.export.{format}",
        entity_type="contact",
        entity_id=None,
        fields=[name for name, value in filters.items() if value],
    )


CONTACT_MERGE_FIELDS = [
    "first_name",
    "last_name",
    "job_title",
    "company_id",
    "buying_role",
    "owner_id",
    "segment",
    "source",
    "language",
    "notes",
]
COMPANY_MERGE_FIELDS = [
    "name",
    "website",
    "domain",
    "industry",
    "size_band",
    "segment",
    "street",
    "postal_code",
    "city",
    "country",
    "phone",
    "email",
    "owner_id",
    "notes",
]


def _take_fields(
    target: Any, duplicate: Any, fields: list[str], take_from_duplicate: set[str]
) -> list[str]:
    """Copy the chosen fields, and any the target lacks, from the duplicate."""
    unknown = take_from_duplicate - set(fields)
    if unknown:
        raise Invalid(N_("Choose one of the offered values."), field=sorted(unknown)[0])
    changed = []
    for name in fields:
        value = getattr(duplicate, name)
        keep = getattr(target, name)
        wanted = name in take_from_duplicate or keep in (None, "")
        if wanted and value not in (None, "", keep):
            setattr(target, name, value)
            changed.append(name)
    return changed


def merge_contacts(
    session: Session,
    *,
    target: Contact,
    duplicate: Contact,
    take_from_duplicate: set[str],
    actor_id: int | None,
) -> Contact:
    """Fold ``duplicate`` into ``target``: chosen fields, all addresses and numbers, and
    everything linked to it (touchpoints and whatever later tables point at contacts)."""
    if target.id == duplicate.id:
        raise Invalid(N_("A contact cannot be merged with itself."), field="duplicate_id")
    changed = _take_fields(target, duplicate, CONTACT_MERGE_FIELDS, take_from_duplicate)
    emails = target.emails + [e for e in duplicate.emails if e not in target.emails]
    phones = target.phones + [p for p in duplicate.phones if p not in target.phones]
    # Addresses are unique: drop both sets of rows before writing the merged ones.
    for contact in (duplicate, target):
        contact.email_rows, contact.phone_rows = [], []
    session.flush()
    # Everything else linked to the duplicate moves before it is deleted (its touchpoints
    # would otherwise go with it).
    moved = repoint_references(session, table="contact", old_id=duplicate.id, new_id=target.id)
    # The moved links are in the database now, not in these objects' collections.
    session.expire(target, ["tag_rows"])
    session.expire(duplicate, ["tag_rows"])
    audit.delete(session, duplicate, actor_id=actor_id, action="contact.merged_into")
    target.set_emails(emails)
    target.set_phones(phones)
    target.updated_at = utcnow()
    _index(session, target)
    # The moved touchpoints now count toward the target's stays, and moved enrollments
    # take the target's segment.
    attribution.refresh(session, contact_id=target.id)
    session.flush()
    _copy_segment(session, Enrollment.contact_id, target)
    return audit.save(
        session,
        target,
        actor_id=actor_id,
        action="contact.merge",
        fields=changed + moved + ["emails", "phones"],
    )


def merge_companies(
    session: Session,
    *,
    target: Company,
    duplicate: Company,
    take_from_duplicate: set[str],
    actor_id: int | None,
) -> Company:
    """Fold ``duplicate`` into ``target``: chosen fields, its people, its touchpoints."""
    if target.id == duplicate.id:
        raise Invalid(N_("A company cannot be merged with itself."), field="duplicate_id")
    changed = _take_fields(target, duplicate, COMPANY_MERGE_FIELDS, take_from_duplicate)
    moved = repoint_references(session, table="company", old_id=duplicate.id, new_id=target.id)
    # The moved links are in the database now, not in these objects' collections.
    session.expire(target, ["tag_rows"])
    session.expire(duplicate, ["tag_rows"])
    audit.delete(session, duplicate, actor_id=actor_id, action="company.merged_into")
    attribution.refresh(session, company_id=target.id)
    target.updated_at = utcnow()
    session.flush()
    _copy_segment(session, Enrollment.company_id, target)
    for contact in session.exec(select(Contact).where(Contact.company_id == target.id)):
        contact.search_text = _search_text(contact, target)
        session.add(contact)
    return audit.save(
        session, target, actor_id=actor_id, action="company.merge", fields=changed + moved
    )


def find_duplicate(session: Session, *, of: Contact, other: str) -> Contact:
    """The contact meant by ``other``: its number (id) or one of its e-mail addresses."""
    other = other.strip()
    found = (
        session.get(Contact, int(other)) if other.isdigit() else find_by_email(session, email=other)
    )
    if found is None:
        raise NotFound(N_("No such contact."))
    if found.id == of.id:
        raise Invalid(N_("A contact cannot be merged with itself."), field="other")
    return found


def get_contacts(session: Session, *, ids: list[int]) -> list[Contact]:
    """The contacts with these ids that exist, by name, in one query."""
    query = select(Contact).where(col(Contact.id).in_(ids))
    return list(session.exec(query.order_by(Contact.last_name, Contact.first_name, Contact.id)))


def bulk_update(session: Session, *, data: BulkRequest, actor_id: int | None) -> int:
    """Apply one action to the chosen contacts with set-based statements; returns how many
    of them exist."""
    ids = list(session.exec(select(Contact.id).where(col(Contact.id).in_(data.ids))))
    chosen = col(Contact.id).in_(ids)
    if data.action == BulkAction.ASSIGN_OWNER:
        if data.owner_id is None:
            raise Invalid(N_("This field is required."), field="owner_id")
        _check_owner(session, data.owner_id)
        session.execute(
            update(Contact).where(chosen).values(owner_id=data.owner_id, updated_at=utcnow())
        )
        action, fields = "contact.update", ["owner_id"]
    elif data.action == BulkAction.ADD_TAG:
        if not data.tag:
            raise Invalid(N_("This field is required."), field="tag")
        (tag,) = tags_named(session, [data.tag])
        session.flush()
        tagged = set(
            session.exec(
                select(ContactTag.contact_id).where(
                    ContactTag.tag_id == tag.id, col(ContactTag.contact_id).in_(ids)
                )
            )
        )
        session.add_all(ContactTag(contact_id=i, tag_id=tag.id) for i in ids if i not in tagged)
        session.execute(update(Contact).where(chosen).values(updated_at=utcnow()))
        action, fields = "contact.update", ["tags"]
    else:
        if not data.confirm:
            raise Invalid(N_("Confirm the deletion."), field="confirm")
        # Addresses, numbers, tags and touchpoints go with them (ON DELETE CASCADE).
        session.execute(delete(Contact).where(chosen))
        action, fields = "contact.delete", []
    session.flush()
    # Contacts already loaded in this session hold the old values (and tags) otherwise.
    session.expire_all()
    audit.record_many(
        session,
        actor_id=actor_id,
        action=action,
        entity_type="contact",
        entity_ids=ids,
        fields=fields,
    )
    return len(ids)


def finder_choice(
    session: Session, *, kind: str, record_id: str | int | None
) -> tuple[int, str] | None:
    """What a form's finder shows as already chosen: the record's id and name, if the id
    names a contact (kind "contacts") or a company there is."""
    if record_id is None or not str(record_id).isdigit():
        return None
    model = Contact if kind == "contacts" else Company
    found = session.get(model, int(record_id))
    return (found.id, found.name) if found else None
