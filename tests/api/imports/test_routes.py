"""Imports through the JSON API and the pages; vCard export."""

import csv
import io
import re

import pytest
from sqlmodel import select

from crm.contacts import service as contact_service
from crm.contacts.vcard import fields_of, read_cards
from crm.imports.models import ImportJob
from crm.users.models import Role
from tests.conftest import csrf_token, login
from tests.factories import make_company, make_contact, make_token, make_user

PEOPLE = (
    "Vorname;Nachname;E-Mail;Telefon\r\n"
    "Anna;Berg;anna@example.com;030 1234567\r\n"
    "\r\n"
    "Bernd;Bad;not-an-address;\r\n"
    "=cmd;Formula;formula@example.com;\r\n"
)


def bearer(session, roles=(Role.SALES_REP,)):
    user = make_user(session, roles=roles)
    return user, {"Authorization": f"Bearer {make_token(session, user)}"}


def api_upload(client, headers, content, path="/api/v1/contacts/import", **form):
    files = {"file": ("people.csv", content.encode() if isinstance(content, str) else content)}
    return client.post(path, files=files, data=form, headers=headers)


class TestApi:
    def test_import_runs_and_reports(self, client, session):
        _, headers = bearer(session)
        response = api_upload(client, headers, PEOPLE)
        assert response.status_code == 202, response.text
        job = response.json()
        assert (job["status"], job["delimiter"], job["rows_total"]) == ("queued", ";", 3)
        status = client.get(f"/api/v1/imports/{job['id']}", headers=headers).json()
        assert (status["status"], status["created"], status["failed"]) == ("done", 2, 1)
        assert contact_service.find_by_email(session, email="anna@example.com").phones == [
            "+49301234567"
        ]
        report = client.get(f"/api/v1/imports/{job['id']}/problems.csv", headers=headers)
        rows = list(csv.reader(io.StringIO(report.text.removeprefix("\ufeff"))))
        assert rows == [
            ["row", "outcome", "field", "message", "cells"],
            [
                "4",
                "error",
                "email",
                "Enter a valid e-mail address.",
                "Bernd",
                "Bad",
                "not-an-address",
                "",
            ],
        ]

    def test_mapping_by_header_and_two_steps(self, client, session):
        _, headers = bearer(session)
        content = "who,mail\nCarla Castro,carla@example.com\n"
        job = api_upload(client, headers, content, start="false").json()
        assert (job["status"], job["mapping"]) == ("uploaded", {"1": "email"})
        preview = client.post(
            f"/api/v1/imports/{job['id']}/preview",
            json={"mapping": {"who": "full_name", "mail": "email"}},
            headers=headers,
        )
        assert preview.json() == [
            {
                "row": 2,
                "values": {"full_name": "Carla Castro", "email": "carla@example.com"},
                "problems": [],
                "existing_id": None,
            }
        ]
        started = client.post(
            f"/api/v1/imports/{job['id']}/start",
            json={"mapping": {"who": "full_name", "1": "email"}, "on_duplicate": "update"},
            headers=headers,
        )
        assert started.status_code == 202
        carla = contact_service.find_by_email(session, email="carla@example.com")
        assert (carla.first_name, carla.last_name) == ("Carla", "Castro")
        again = client.post(f"/api/v1/imports/{job['id']}/start", json={}, headers=headers)
        assert again.status_code == 409

    def test_bad_input_gets_clear_4xx(self, client, session, app):
        _, headers = bearer(session)
        bad_json = api_upload(client, headers, PEOPLE, mapping="{not json")
        assert bad_json.status_code == 422
        assert bad_json.json()["detail"] == "The mapping is not valid JSON."
        odd = api_upload(client, headers, PEOPLE, mapping='{"0": ["first_name"]}')
        assert odd.status_code == 422
        no_names = api_upload(client, headers, PEOPLE, mapping='{"2": "email"}')
        assert no_names.status_code == 422
        assert api_upload(client, headers, "").status_code == 422
        assert client.post("/api/v1/contacts/import", headers=headers).status_code == 422
        app.state.settings = app.state.settings.model_copy(update={"import_max_mb": 0})
        too_big = api_upload(client, headers, PEOPLE)
        assert (too_big.status_code, too_big.json()["detail"]) == (
            413,
            "The file is larger than 0 MB.",
        )
        assert session.exec(select(ImportJob)).all() == []

    def test_companies_import(self, client, session):
        _, headers = bearer(session)
        response = api_upload(
            client,
            headers,
            "name,website\nNordlicht GmbH,nordlicht.example\n",
            path="/api/v1/companies/import",
        )
        status = client.get(f"/api/v1/imports/{response.json()['id']}", headers=headers).json()
        assert status["created"] == 1

    def test_permissions(self, client, session):
        _, dpo_headers = bearer(session, roles=(Role.DPO,))
        assert api_upload(client, dpo_headers, PEOPLE).status_code == 403
        _, headers = bearer(session)
        job = api_upload(client, headers, PEOPLE).json()
        _, other_headers = bearer(session)
        assert client.get(f"/api/v1/imports/{job['id']}", headers=other_headers).status_code == 404
        assert client.get("/api/v1/imports", headers=other_headers).json() == []
        _, admin_headers = bearer(session, roles=(Role.ADMIN,))
        assert client.get(f"/api/v1/imports/{job['id']}", headers=admin_headers).status_code == 200
        assert client.delete(f"/api/v1/imports/{job['id']}", headers=headers).status_code == 204
        assert client.get(f"/api/v1/imports/{job['id']}", headers=headers).status_code == 404


class TestPages:
    def test_upload_map_preview_start_and_watch(self, client, session):
        rep = make_user(session)
        login(client, rep.email)
        page = client.get("/imports?kind=contacts")
        assert page.status_code == 200 and 'enctype="multipart/form-data"' in page.text
        token = csrf_token(client, "/imports")
        uploaded = client.post(
            "/imports",
            data={"kind": "contacts", "csrf_token": token},
            files={"file": ("people.csv", PEOPLE.encode("cp1252"))},
        )
        assert uploaded.status_code == 303
        path = uploaded.headers["location"]
        mapping = client.get(path)
        assert 'name="column"' in mapping.text and "<!doctype html>" in mapping.text
        assert "anna@example.com" in mapping.text  # the preview
        assert "Enter a valid e-mail address." in mapping.text
        # Changing a column's field asks for the preview block alone.
        fragment = client.post(
            f"{path}/preview",
            data={"column": ["first_name", "last_name", "", ""], "csrf_token": token},
            headers={"HX-Request": "true", "HX-Target": "preview"},
        )
        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<section id="preview"')
        assert "anna@example.com" not in fragment.text
        refused = client.post(
            f"{path}/preview",
            data={"column": ["email", "", "", ""], "csrf_token": token},
            headers={"HX-Request": "true", "HX-Target": "preview"},
        )
        assert refused.status_code == 422
        assert "first and last names" in refused.text
        twice = client.post(
            f"{path}/start",
            data={"column": ["full_name", "", "email", "email"], "csrf_token": token},
        )
        assert twice.status_code == 422
        assert "email is chosen for more than one column." in twice.text
        started = client.post(
            f"{path}/start",
            data={
                "column": ["first_name", "last_name", "email", "phone"],
                "on_duplicate": "skip",
                "csrf_token": token,
            },
        )
        assert started.status_code == 303
        status = client.get(path, headers={"HX-Request": "true", "HX-Target": "import-status"})
        assert status.text.lstrip().startswith('<section id="import-status"')
        assert "hx-trigger" not in status.text  # finished: it stops asking
        assert 'value="100"' in status.text and "problems.csv" in status.text
        report = client.get(f"{path}/problems.csv")
        assert report.status_code == 200 and "not-an-address" in report.text
        assert (
            contact_service.find_by_email(session, email="formula@example.com").first_name == "=cmd"
        )

    def test_a_refused_upload_shows_the_form_again(self, client, session):
        login(client, make_user(session).email)
        response = client.post(
            "/imports",
            data={"kind": "companies", "csrf_token": csrf_token(client, "/imports")},
            files={"file": ("cards.vcf", b"BEGIN:VCARD\r\nFN:A B\r\nEND:VCARD\r\n")},
        )
        assert response.status_code == 422
        assert "import them as contacts" in response.text
        assert session.exec(select(ImportJob)).all() == []

    def test_only_editors_import(self, client, session):
        login(client, make_user(session, roles=(Role.DPO,)).email)
        assert client.get("/imports").status_code == 403


class TestVcardExport:
    def test_the_list_and_one_contact_as_vcards(self, client, session):
        rep = make_user(session)
        company = make_company(session, name="Sonnen, Wind & Co")
        anna = make_contact(
            session,
            first_name="Anna",
            last_name="Müller; Jr",
            company_id=company.id,
            emails=["anna@example.com", "a2@example.com"],
            phones=["030 1234567"],
            notes="Line one\nLine two " + "x" * 80,
            tags=["VIP"],
        )
        make_contact(session, first_name="Otto", last_name="Other")
        login(client, rep.email)
        response = client.get("/contacts/export.vcf?q=müller")
        assert response.headers["content-type"].startswith("text/vcard")
        assert all(len(line.encode()) <= 75 for line in response.text.split("\r\n"))
        (card,) = list(read_cards(io.StringIO(response.text)))
        fields = fields_of(card)
        assert (fields["first_name"], fields["last_name"]) == ("Anna", "Müller; Jr")
        assert (fields["email"], fields["other_emails"]) == ("anna@example.com", "a2@example.com")
        assert fields["company"] == "Sonnen, Wind & Co"
        assert fields["notes"] == anna.notes
        assert fields["tags"] == "VIP"
        single = client.get(f"/contacts/{anna.id}/vcard")
        assert single.text == response.text
        _, headers = bearer(session)
        assert client.get(f"/api/v1/contacts/{anna.id}/vcard", headers=headers).text == single.text
        api = client.get("/api/v1/contacts/export.vcf", headers=headers)
        assert api.text.count("BEGIN:VCARD") == 2
        assert re.search(r"^TEL;TYPE=VOICE,PREF:\+49301234567\r$", api.text, re.M)


def test_a_body_far_over_the_limit_is_refused_before_it_is_read(client, session, app):
    _, headers = bearer(session)
    limit = 4 * app.state.settings.import_max_mb * (1 << 20)
    response = client.post(
        "/api/v1/contacts/import",
        content=b"x",
        headers={**headers, "Content-Length": str(limit + 1), "Content-Type": "text/csv"},
    )
    assert response.status_code == 413


def zip_bomb() -> bytes:
    """A small ZIP that unpacks to 100 MB of zeros, as someone might name it .csv."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("people.csv", b"\0" * (100 << 20))
    return buffer.getvalue()


BAD_FILES = {
    "binary": (bytes(range(256)) * 64, "not a CSV or vCard file"),
    "zip bomb": (zip_bomb(), "not a CSV or vCard file"),
    "a 5 MB cell": (b"first_name;last_name\r\nAnna;" + b"x" * (5 << 20) + b"\r\n", "longer than"),
    "a 200 KB cell": (
        b"first_name;last_name\r\nAnna;" + b"x" * (200 << 10) + b"\r\n",
        "longer than",
    ),
}


@pytest.mark.parametrize("name", BAD_FILES)
def test_files_that_are_no_csv_are_refused_with_a_clear_message(client, session, name):
    content, message = BAD_FILES[name]
    _, headers = bearer(session)
    answer = api_upload(client, headers, content)
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["detail"]
    assert session.exec(select(ImportJob)).all() == []


@pytest.mark.parametrize("name", BAD_FILES)
def test_the_import_page_refuses_them_too(client, session, name):
    content, message = BAD_FILES[name]
    login(client, make_user(session).email)
    answer = client.post(
        "/imports",
        data={"kind": "contacts", "csrf_token": csrf_token(client, "/imports")},
        files={"file": ("people.csv", content)},
    )
    assert answer.status_code == 422
    assert message in answer.text
    assert session.exec(select(ImportJob)).all() == []


def test_a_long_cell_far_down_the_file_is_found_before_anything_is_imported(client, session):
    _, headers = bearer(session)
    rows = "".join(f"Anna{n};Berg;anna{n}@example.com\r\n" for n in range(3000))
    content = (
        "first_name;last_name;email\r\n" + rows + "Late;" + "y" * 300_000 + ";late@example.com\r\n"
    )
    answer = api_upload(client, headers, content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "Line 3002 holds a cell longer than 131072 characters."
    assert session.exec(select(ImportJob)).all() == []
