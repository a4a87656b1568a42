"""The export holds every record about the contact, in JSON and CSV with their
checksums, and nothing about anybody else."""

import csv
import hashlib
import io
import json
import zipfile

import pytest

from crm.core.errors import Conflict
from crm.gdpr import cases, export
from crm.gdpr.models import RequestCreate


def test_everything_about_the_contact_and_nothing_about_others(session, subject, tmp_path):
    found, _, other = subject
    path = export.write_export(
        session,
        found=found,
        directory=tmp_path,
        attachments=tmp_path / "attachments",
        actor_id=None,
    )
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        for entry in manifest["files"]:
            data = archive.read(entry["name"])
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["bytes"]
        everything = b"".join(archive.read(name) for name in names).decode()
        contact = json.loads(archive.read("contact.json"))
        touchpoints = list(csv.DictReader(io.StringIO(archive.read("touchpoints.csv").decode())))
        consents = json.loads(archive.read("consents.json"))
        roles = json.loads(archive.read("deal_roles.json"))
    assert {"manifest.json", "README.html", "contact.json", "contact.csv"} <= names
    assert {f["name"] for f in manifest["files"]} == names - {"manifest.json", "README.html"}
    assert contact[0]["first_name"] == "Xaver" and contact[0]["notes"] == "Likes tea"
    assert [t["summary"] for t in touchpoints] == ["Called about the renewal"]
    assert consents[0]["ip"] == "192.0.2.44"
    assert [r["role"] for r in roles] == ["decision maker"]
    for expected in ("Send the brochure", "Shared deal", "person"):
        assert expected.split()[0] in everything
    assert "Olivia" not in everything and other.emails[0] not in everything
    assert any(p["purpose"] == "Direct marketing" for p in manifest["information"])
    assert len(manifest["rights"]) >= 7
    assert found.export_file == path.name
    assert export.export_path(found, directory=tmp_path) == path


def test_nothing_to_export_without_a_contact_and_old_exports_go(session, subject, tmp_path):
    found, _, _ = subject
    path = export.write_export(
        session,
        found=found,
        directory=tmp_path,
        attachments=tmp_path / "attachments",
        actor_id=None,
    )
    found.exported_at = found.exported_at - export.EXPORT_KEPT
    assert export.purge_exports(session, directory=tmp_path) == 1
    assert not path.exists() and found.export_file is None
    stranger = cases.create_request(
        session, data=RequestCreate(kind="access", requester_name="Nobody"), actor_id=None
    )
    with pytest.raises(Conflict):
        export.write_export(
            session,
            found=stranger,
            directory=tmp_path,
            attachments=tmp_path / "attachments",
            actor_id=None,
        )
