"""One search over contacts, companies and deals, for the box in the navigation."""

from sqlalchemy import func
from sqlmodel import Session, col, select

from crm.contacts import service as contact_service
from crm.deals.models import Deal
from crm.home.models import SearchHit, SearchResults

# Each group shows this many; the lists behind "All contacts" etc. show the rest.
PER_GROUP = 5
# Shorter than this, a query would match nearly everything.
MIN_LENGTH = 2


def search(session: Session, *, q: str, limit: int = PER_GROUP) -> SearchResults:
    q = q.strip()
    if len(q) < MIN_LENGTH:
        return SearchResults(q=q, contacts=[], companies=[], deals=[])
    listed = contact_service.contact_list(session, q=q, limit=limit)
    contacts = [
        SearchHit(
            id=row.id,
            title=f"{row.first_name} {row.last_name}",
            detail=row.company_name or row.email,
            url=f"/contacts/{row.id}",
        )
        for row in listed.rows
    ]
    companies, _ = contact_service.list_companies(session, q=q, limit=limit)
    deals = session.exec(
        select(Deal.id, Deal.title, Deal.status)
        .where(func.lower(Deal.title).contains(q.lower(), autoescape=True))
        .order_by(col(Deal.updated_at).desc(), col(Deal.id).desc())
        .limit(limit)
    )
    return SearchResults(
        q=q,
        contacts=contacts,
        companies=[
            SearchHit(id=c.id, title=c.name, detail=c.domain, url=f"/companies/{c.id}")
            for c in companies
        ],
        deals=[
            SearchHit(id=id_, title=title, detail=status, url=f"/deals/{id_}")
            for id_, title, status in deals
        ],
    )
