"""Who may act for data protection, and path parameters that load their row or 404."""

from typing import Annotated

from fastapi import Depends

from crm.core.db import SessionDep
from crm.core.errors import N_, Forbidden
from crm.gdpr import cases
from crm.gdpr import service as gdpr_service
from crm.gdpr.models import PrivacyRequest, Purpose
from crm.users.deps import CurrentUser, require_role
from crm.users.models import Role, User


def privacy_officer(user: CurrentUser, session: SessionDep) -> User:
    """The DPO, or an administrator if the DPO lets administrators handle requests."""
    if not cases.may_handle(session, user):
        raise Forbidden(N_("Only the data protection officer may do this."))
    return user


PrivacyOfficer = Annotated[User, Depends(privacy_officer)]
Dpo = Annotated[User, require_role(Role.DPO)]
AuditReader = Annotated[User, require_role(Role.DPO, Role.ADMIN)]
# Who records a person's consent: those who speak with customers, and the DPO.
ConsentRecorder = Annotated[
    User, require_role(Role.SALES_REP, Role.ACCOUNT_MANAGER, Role.ADMIN, Role.DPO)
]


def valid_purpose_id(purpose_id: int, session: SessionDep) -> Purpose:
    return gdpr_service.get_purpose(session, purpose_id=purpose_id)


def valid_request_id(request_id: int, session: SessionDep) -> PrivacyRequest:
    return cases.get_request(session, request_id=request_id)


PurposeDep = Annotated[Purpose, Depends(valid_purpose_id)]
RequestDep = Annotated[PrivacyRequest, Depends(valid_request_id)]
