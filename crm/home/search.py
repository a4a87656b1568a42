"""One search over contacts, companies and deals, for the box in the navigation."""

from sqlmodel import Session

from crm.contacts import service as contact_service
from crm.deals import service as deal_service
from crm.home.models import SearchHit, SearchResults

# Each group shows this many; the lists behind "All contacts" etc. show the rest.
PER_GROUP = 5
# Shorter than this, a query would match nearly everything.
MIN_LENGTH = 2


KINDS = frozenset({"contacts", "companies", "deals"})


def search(
    session: Session, *, q: str, limit: int = PER_GROUP, kinds: frozenset[str] = KINDS
) -> SearchResults:
    """What matches ``q``, by kind; a form's finder asks for one kind only."""
    q = q.strip()
    found = SearchResults(q=q, contacts=[], companies=[], deals=[])
    if len(q) < MIN_LENGTH:
        return found
    if "contacts" in kinds:
        found.contacts = [
            SearchHit(
                id=row.id,
                title=f"{row.first_name} {row.last_name}",
                detail=row.company_name or row.email,
                url=f"/contacts/{row.id}",
            )
            for row in contact_service.contact_list(session, q=q, limit=limit).rows
        ]
    if "companies" in kinds:
        companies, _ = contact_service.list_companies(session, q=q, limit=limit)
        found.companies = [
            SearchHit(id=c.id, title=c.name, detail=c.domain, url=f"/companies/{c.id}")
            for c in companies
        ]
    if "deals" in kinds:
        deals, _ = deal_service.list_deals(session, q=q, limit=limit)
        found.deals = [
            SearchHit(id=d.id, title=d.title, detail=d.status, url=f"/deals/{d.id}") for d in deals
        ]
    return found
