"""Schemathesis against the CRM's own OpenAPI document: every operation, authenticated
as a user who holds every role, with boundary values and a bounded number of generated
requests each. No answer is a server error; status codes, content types, headers and
bodies match the document. (That a missing token is refused, the authorisation
matrix shows.)

Left out on purpose: that every schema-valid request is accepted (business rules such
as a duplicate name or a wrong current password refuse some with 422) and that every
schema-violating one is refused (pydantic reads 0 as false, and a blank date as none);
and undeclared methods (Starlette answers 405 with the methods of the first route whose
path matches, and an id path like /followups/{followup_id} takes /followups/runs)."""

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from crm.main import create_app
from crm.users.models import Role
from tests.conftest import make_settings
from tests.factories import make_token, make_user


class RunningTestsApp:
    """The document is loaded once; each test's requests go to that test's own app (its
    database transaction). The app's start-up and shutdown are the test fixtures' job."""

    def __init__(self) -> None:
        self.app: Any = create_app(make_settings("/nonexistent", "sqlite://"))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            for stage in ("startup", "shutdown"):
                await receive()
                await send({"type": f"lifespan.{stage}.complete"})
            return
        await self.app(scope, receive, send)


current = RunningTestsApp()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", current)
# The same requests on every run, so that CI is repeatable; no undeclared methods (below).
schema.config.generation.update(deterministic=True)
schema.config.phases.coverage.unexpected_methods = set()
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.missing_required_header,
]


@pytest.fixture
def bearer(app, session) -> dict[str, str]:
    current.app = app
    user = make_user(session, roles=tuple(Role))
    return {"Authorization": f"Bearer {make_token(session, user)}"}


@schema.parametrize()
@settings(max_examples=1, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_word(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)
