"""Hostile input everywhere a request carries text, a date or a time: NUL characters,
lone surrogates, dates at the ends of the calendar, times whose offset pushes them past
year 1 or 9999. No answer may be a server error.

- Schemathesis over the API: the generated requests with every string of the query and
  the body made hostile (hooks on a schema of its own; the plain fuzz in test_fuzz.py
  keeps its valid values). Lone surrogates go only where JSON's escapes can carry them:
  test_input_contract.py sends them in bodies.
- The pages: every query parameter of every page, one hostile value at a time.
- Statically: every date and time an API request or a page query reads is of the
  bounded types (crm.core.schemas.Moment and Day).
"""

import inspect
import re
import typing
from datetime import date, datetime

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, settings
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.functional_validators import AfterValidator
from schemathesis import checks

from crm.core import schemas
from crm.main import ROUTERS
from crm.users.models import Role
from tests.api.core.test_input_contract import api_body_models
from tests.api.test_fuzz import RunningTestsApp
from tests.conftest import login
from tests.factories import make_token, make_user

DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EARLY, LATE = "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"


def hostile(value: typing.Any) -> typing.Any:
    """NUL in every text, and dates and times at either end of the calendar."""
    if isinstance(value, dict):
        return {k: hostile(v) for k, v in value.items()}
    if isinstance(value, list):
        return [hostile(v) for v in value]
    if not isinstance(value, str):
        return value
    if DATE_TIME.match(value):
        return EARLY if len(value) % 2 else LATE
    if DATE.match(value):
        return "0001-01-01" if int(value[-1]) % 2 else "9999-12-31"
    return value + "\x00"


def hostile_schema() -> typing.Any:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.generation.update(deterministic=True)
    schema.config.phases.coverage.enabled = False  # its boundary cases need no hooks
    schema.config.phases.coverage.unexpected_methods = set()

    @schema.hook("map_query")
    def _query(context, query):
        return hostile(query) if query else query

    @schema.hook("map_body")
    def _body(context, body):
        return hostile(body)

    return schema


app = RunningTestsApp()
HOSTILE = hostile_schema()


@pytest.fixture
def bearer(app_for_test, session) -> dict[str, str]:
    user = make_user(session, roles=tuple(Role))
    return {"Authorization": f"Bearer {make_token(session, user)}"}


@pytest.fixture
def app_for_test(app):
    globals()["app"].app = app
    return app


@HOSTILE.parametrize()
@settings(max_examples=1, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_hostile_text_and_dates_are_no_server_error(case, bearer):
    case.call_and_validate(headers=bearer, checks=[checks.not_a_server_error])


# --- the pages -----------------------------------------------------------------------

PAGE_VALUES = [
    "a\x00b",
    "0001-01-01",
    "0001-01-03",
    "9999-12-31",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-12:00",
    "-1",
    "99999999999999999999999",
    "x" * 5000,
    "%",
]


def query_fields(route: APIRoute) -> list[tuple[str, FieldInfo]]:
    """(name, field) of every query parameter a route reads, its dependencies' included."""
    found, stack = [], [route.dependant]
    while stack:
        dependant = stack.pop()
        stack.extend(dependant.dependencies)
        for param in dependant.query_params:
            model = param.field_info.annotation
            if inspect.isclass(model) and issubclass(model, BaseModel):
                found += [(f.alias or n, f) for n, f in model.model_fields.items()]
            else:
                found.append((param.alias, param.field_info))
    return found


def page_queries() -> typing.Iterator[tuple[str, str]]:
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.path.startswith("/api/"):
                continue
            if "GET" not in route.methods:
                continue
            for name, _ in query_fields(route):
                yield route.path, name


PAGE_QUERIES = sorted(set(page_queries()))
PAGES = sorted({path for path, _ in PAGE_QUERIES})


def test_the_page_fuzz_reaches_the_pages_that_failed():
    assert ("/planner/week", "start") in PAGE_QUERIES
    assert len(PAGE_QUERIES) > 40


@pytest.mark.parametrize("path", PAGES)
def test_every_page_query_takes_hostile_values(client, session, path):
    login(client, make_user(session, roles=tuple(Role)).email)
    url = re.sub(r"\{[^}]+\}", "1", path)
    for name in (name for page, name in PAGE_QUERIES if page == path):
        for value in PAGE_VALUES:
            answer = client.get(url, params={name: value})
            assert answer.status_code < 500, (url, name, value, answer.status_code)


# --- statically ----------------------------------------------------------------------


def _bounded(annotation: typing.Any, metadata: list[typing.Any]) -> bool:
    """Whether a date or time annotation carries the range check (else: no date)."""
    dated = False
    for argument in (annotation, *typing.get_args(annotation)):
        if argument in (datetime, date):
            dated = True
        if typing.get_origin(argument) is typing.Annotated:
            return _bounded(typing.get_args(argument)[0], [*metadata, *argument.__metadata__])
    checks_range = any(
        isinstance(m, AfterValidator)
        and m.func in (schemas._moment_in_range, schemas._day_in_range)
        for m in metadata
    )
    return not dated or checks_range


def test_every_date_and_time_a_request_carries_is_bounded():
    unbounded = [
        f"{model.__name__}.{name}"
        for model in api_body_models()
        for name, field in model.model_fields.items()
        if not _bounded(field.annotation, list(field.metadata))
    ]
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                for name, info in query_fields(route):
                    if not _bounded(info.annotation, list(info.metadata)):
                        unbounded.append(f"{route.path}?{name}")
    assert unbounded == []


def test_the_static_check_tells_bounded_from_unbounded():
    assert _bounded(schemas.Moment, []) and _bounded(schemas.Moment | None, [])
    assert not _bounded(datetime, []) and not _bounded(date | None, [])
    assert _bounded(str, []) and _bounded(int | None, [])
    assert inspect.isfunction(schemas._moment_in_range)
