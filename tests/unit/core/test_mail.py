"""Sending through an SMTP server that wants a login: a real aiosmtpd server in the test,
as a provider's submission port would answer."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from crm.core import mail
from crm.core.errors import Unavailable
from tests import mailservers

# Our test server takes the login without TLS, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((session.auth_data, envelope.rcpt_tos))
        return "250 OK"


def _authenticate(server, session, envelope, mechanism, auth_data):
    granted = isinstance(auth_data, LoginPassword) and (
        auth_data.login,
        auth_data.password,
    ) == (b"crm", b"right")
    return AuthResult(success=granted, auth_data=auth_data.login if granted else None)


@pytest.fixture
def submission(settings, monkeypatch):
    with socket.socket() as probe:
        probe.bind((mailservers.HOST, 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname=mailservers.HOST,
        port=port,
        authenticator=_authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    monkeypatch.setattr(settings, "smtp_host", mailservers.HOST)
    monkeypatch.setattr(settings, "smtp_port", port)
    monkeypatch.setattr(settings, "smtp_user", "crm")
    yield inbox
    controller.stop()


def test_the_crm_logs_in_before_it_sends(settings, monkeypatch, submission):
    monkeypatch.setattr(settings, "smtp_password", "right")
    mail.send(settings, to="anna@customers.example", subject="Hello", body="Text")
    assert [(login, to) for login, to in submission.messages] == [
        (b"crm", ["anna@customers.example"])
    ]


def test_a_wrong_password_is_a_clear_failure_and_nothing_goes(settings, monkeypatch, submission):
    monkeypatch.setattr(settings, "smtp_password", "wrong")
    with pytest.raises(Unavailable, match="nothing was sent"):
        mail.send(settings, to="anna@customers.example", subject="Hello", body="Text")
    assert submission.messages == []


def test_without_a_login_the_server_refuses(settings, monkeypatch, submission):
    monkeypatch.setattr(settings, "smtp_user", "")
    with pytest.raises(Unavailable):
        mail.send(settings, to="anna@customers.example", subject="Hello", body="Text")
    assert submission.messages == []
