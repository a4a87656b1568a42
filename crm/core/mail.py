"""Plain-text e-mail through the configured SMTP server (CRM_SMTP_HOST and friends)."""

import smtplib
import ssl
from email.message import EmailMessage

from crm.core.errors import N_, Unavailable
from crm.core.settings import Settings


def connect(settings: Settings, *, timeout: float) -> smtplib.SMTP:
    """An open connection to CRM_SMTP_HOST, encrypted and logged in as configured."""
    if not settings.smtp_host:
        raise smtplib.SMTPException("no mail server is configured (CRM_SMTP_HOST)")
    tls = ssl.create_default_context()
    if settings.smtp_security == "ssl":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=tls
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    try:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=tls)
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
    except BaseException:
        smtp.close()
        raise
    return smtp


def send(settings: Settings, *, to: str, subject: str, body: str) -> None:
    """Send one message, or say clearly why it could not go: the caller's transaction
    then rolls back, so nothing is recorded as sent that was not."""
    if not settings.smtp_host:
        raise Unavailable(N_("No mail server is configured (CRM_SMTP_HOST): nothing was sent."))
    message = EmailMessage()
    # A line break in a subject made of a user's text must not start a header of its own.
    subject = " ".join(subject.split())
    message["From"], message["To"], message["Subject"] = settings.smtp_from, to, subject
    message.set_content(body)
    try:
        with connect(settings, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise Unavailable(
            N_("The mail server could not take the message: nothing was sent.")
        ) from exc
