"""Path parameters that load their row or answer 404."""

from typing import Annotated

from fastapi import Depends

from crm.contacts import service as contact_service
from crm.contacts.models import Company, Contact
from crm.core.db import SessionDep
from crm.users.deps import require_role
from crm.users.models import Role, User


def valid_company_id(company_id: int, session: SessionDep) -> Company:
    return contact_service.get_company(session, company_id=company_id)


def valid_contact_id(contact_id: int, session: SessionDep) -> Contact:
    return contact_service.get_contact(session, contact_id=contact_id)


CompanyDep = Annotated[Company, Depends(valid_company_id)]
ContactDep = Annotated[Contact, Depends(valid_contact_id)]
# Everyone signed in may look people up; those who work with customers may change them.
EDITOR_ROLES = (Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.ADMIN)
Editor = Annotated[User, require_role(*EDITOR_ROLES)]
