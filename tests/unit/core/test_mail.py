"""Sending through an SMTP server that wants a login: a real aiosmtpd server in the test,
as a provider's submission port would answer."""

import pytest

from crm.core import mail
from crm.core.errors import Unavailable

# Our test server takes the login without TLS, which aiosmtpd rightly warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH:UserWarning")


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
