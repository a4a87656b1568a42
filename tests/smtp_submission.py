"""An SMTP server that wants a login, started in the test: a real aiosmtpd server, as a
provider's submission port would answer. It takes the login "crm" / "right"."""

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests import mailservers


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
    # Not "handled": aiosmtpd then answers a refusal with 535, as a provider does.
    return AuthResult(
        success=granted, handled=False, auth_data=auth_data.login if granted else None
    )


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
