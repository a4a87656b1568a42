"""CSV export of the contact list: filtered, streamed, safe to open in a spreadsheet."""

import csv
import io

import pytest
from sqlalchemy.exc import OperationalError

from crm.core import audit
from crm.core.exports import safe_cell
from crm.users.models import Role
from tests.conftest import login
from tests.factories import make_company, make_contact, make_token, make_user


def rows_of(response) -> list[list[str]]:
    assert response.headers["content-type"].startswith("text/csv")
    assert response.text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff"))))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+49 30", "'+49 30"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("Müller", "Müller"),
        (None, ""),
        (42, "42"),
    ],
)
def test_cells_that_would_run_as_formulas_are_neutralised(value, written):
    assert safe_cell(value) == written


def test_the_export_follows_the_lists_filters_and_is_audited(client, session):
    rep = make_user(session, roles=(Role.SALES_REP,))
    company = make_company(session, name="=Export AG")
    make_contact(
        session,
        first_name="Erika",
        last_name="Export",
        company_id=company.id,
        emails=["erika@export.example", "e2@export.example"],
        phones=["+4930123456"],
        owner_id=rep.id,
        tags=["VIP", "Messe"],
    )
    make_contact(session, first_name="Otto", last_name="Other")
    login(client, rep.email)
    response = client.get("/contacts/export.csv?q=export&owner_id=&tag=&sort=name")
    assert 'attachment; filename="contacts-' in response.headers["content-disposition"]
    header, *rows = rows_of(response)
    assert header[:3] == ["id", "first_name", "last_name"]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert row["company"] == "'=Export AG"
    assert (row["email"], row["other_emails"]) == ("erika@export.example", "e2@export.example")
    assert row["phone"] == "'+4930123456" and row["owner"] == rep.email
    assert row["tags"] == "Messe, VIP"
    events = audit.events_for(session, entity_type="contact", entity_id=None)
    assert events[0].action == "contact.export.csv" and events[0].fields == ["q", "sort"]


def test_the_export_takes_every_page(client, session, monkeypatch):
    from crm.contacts import service

    monkeypatch.setattr(service, "MAX_LIMIT", 2)
    for number in range(5):
        make_contact(session, last_name=f"Paged{number}")
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    _, *rows = rows_of(client.get("/api/v1/contacts/export.csv?q=paged", headers=headers))
    assert [r[2] for r in rows] == [f"Paged{n}" for n in range(5)]


def test_only_those_who_work_with_customers_export(client, session):
    login(client, make_user(session, roles=(Role.DPO,)).email)
    assert client.get("/contacts/export.csv").status_code == 403
    assert "Export CSV" not in client.get("/contacts").text


@pytest.mark.parametrize("kind", ["csv", "vcf"])
def test_a_filter_the_database_cannot_hold_is_answered_before_any_download(client, session, kind):
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    answer = client.get(
        f"/api/v1/contacts/export.{kind}", params={"company_id": 2**63}, headers=headers
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == "A number or a text in the request is out of range."


@pytest.mark.parametrize(("kind", "maker"), [("csv", "export_rows"), ("vcf", "export_cards")])
def test_an_export_whose_query_fails_is_a_503_not_a_broken_download(
    client, session, monkeypatch, kind, maker
):
    from crm.contacts import service

    def unreachable(export_session, **filters):
        raise OperationalError("SELECT", {}, Exception("connection refused"))
        yield

    monkeypatch.setattr(service, maker, unreachable)
    headers = {"Authorization": f"Bearer {make_token(session, make_user(session))}"}
    answer = client.get(f"/api/v1/contacts/export.{kind}", headers=headers)
    assert answer.status_code == 503 and "cannot be reached" in answer.json()["detail"]
    assert "attachment" not in answer.headers.get("content-disposition", "")
    assert audit.events_for(session, entity_type="contact", entity_id=None) == []
