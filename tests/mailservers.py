"""The real mail servers the tests talk to: Dovecot for IMAP, and an SMTP server that
delivers into it over LMTP, so that a mail the CRM sends arrives in a Dovecot mailbox.

`make test` and `.ci/run` start them (`python -m tests.mailservers start`); they keep
running between test runs. Any user name logs in with PASSWORD, and mail to any address
lands in that address's own mailbox, so each test works in mailboxes of its own.
Recipients at REFUSED_DOMAIN are refused, as a real server refuses an unknown address.
"""

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
IMAP_PORT = int(os.environ.get("CRM_TEST_IMAP_PORT", "10143"))
SMTP_PORT = int(os.environ.get("CRM_TEST_SMTP_PORT", "10025"))
LMTP_PORT = int(os.environ.get("CRM_TEST_LMTP_PORT", "10024"))
PASSWORD = "mail-test-password"
REFUSED_DOMAIN = "refused.example"
MAIL_USER = "dovecot"
# One place for the servers of every checkout on the machine: they stay up between runs.
HOME = Path(os.environ.get("CRM_TEST_MAIL_DIR", "/tmp/crm-test-mail"))  # noqa: S108

DOVECOT_CONF = """\
base_dir = {home}/run
state_dir = {home}/state
log_path = {home}/dovecot.log
protocols = imap lmtp
listen = {host}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
default_internal_user = dovecot
default_login_user = dovenull
lmtp_save_to_detail_mailbox = no
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={user} gid={user} home={home}/mail/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_min_avail = 2
}}
service lmtp {{
  inet_listener lmtp {{
    address = {host}
    port = {lmtp_port}
  }}
}}
"""


def answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(port: int, name: str) -> None:
    for _ in range(100):
        if answers(port):
            return
        time.sleep(0.1)
    sys.exit(f"mailservers: {name} did not start on {HOST}:{port} (see {HOME})")


def start_dovecot() -> None:
    if answers(IMAP_PORT):
        return
    dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(dovecot).exists():
        sys.exit("mailservers: Dovecot is not installed (Debian: dovecot-imapd dovecot-lmtpd)")
    (HOME / "run").mkdir(parents=True, exist_ok=True)
    (HOME / "state").mkdir(parents=True, exist_ok=True)
    # Dovecot keeps mail as an unprivileged user of its own, never as root.
    (HOME / "mail").mkdir(exist_ok=True)
    shutil.chown(HOME / "mail", MAIL_USER, MAIL_USER)
    conf = HOME / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            home=HOME,
            host=HOST,
            password=PASSWORD,
            user=MAIL_USER,
            imap_port=IMAP_PORT,
            lmtp_port=LMTP_PORT,
        )
    )
    subprocess.run([dovecot, "-c", str(conf)], check=True)
    wait_for(IMAP_PORT, "Dovecot (IMAP)")
    wait_for(LMTP_PORT, "Dovecot (LMTP)")


class Relay:
    """aiosmtpd's handler: each message goes on to Dovecot's LMTP service."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@" + REFUSED_DOMAIN):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            await asyncio.to_thread(self.deliver, envelope)
        except smtplib.SMTPException as exc:
            return f"451 4.3.0 Delivery failed: {exc}"
        return "250 Message accepted for delivery"

    @staticmethod
    def deliver(envelope) -> None:
        with smtplib.LMTP(HOST, LMTP_PORT, timeout=30) as lmtp:
            lmtp.sendmail(envelope.mail_from, envelope.rcpt_tos, envelope.original_content)


def serve_smtp() -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(Relay(), hostname=HOST, port=SMTP_PORT)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


def start_smtp() -> None:
    if answers(SMTP_PORT):
        return
    log = (HOME / "smtp.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mailservers", "smtp"],
        cwd=Path(__file__).resolve().parents[1],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    (HOME / "smtp.pid").write_text(str(process.pid))
    wait_for(SMTP_PORT, "the SMTP server")


def stop() -> None:
    conf = HOME / "dovecot.conf"
    if conf.exists() and answers(IMAP_PORT):
        subprocess.run(["doveadm", "-c", str(conf), "stop"], check=False)
    pid_file = HOME / "smtp.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        pid_file.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "smtp"])
    command = parser.parse_args().command
    if command == "smtp":
        serve_smtp()
    elif command == "stop":
        stop()
    else:
        HOME.mkdir(parents=True, exist_ok=True)
        start_dovecot()
        start_smtp()
        print(f"mailservers: IMAP on {HOST}:{IMAP_PORT}, SMTP on {HOST}:{SMTP_PORT}")


if __name__ == "__main__":
    main()
