"""Reading a mail as the standard library's ``email`` package parses it (policy
``default``): addresses, dates, the plain text with its quote and signature cut off, and
what is attached. Broken mail is read as far as it goes, never refused."""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import EmailPolicy
from email.utils import getaddresses, parsedate_to_datetime
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

# Mail older than this is not believed to have been written then: the server's date wins.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 10_000
MAX_QUOTED = 100_000


@dataclass
class Attachment:
    filename: str
    content_type: str
    size_bytes: int
    # The file itself, where its mailbox keeps files of this size.
    content: bytes | None = field(default=None, repr=False)


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    from_address: str
    from_name: str
    to: list[str]
    cc: list[str]
    # The conversation's first Message-ID (References, else In-Reply-To, else its own).
    thread_root: str
    in_reply_to: str
    # Every Message-ID it answers (References and In-Reply-To).
    references: list[str]
    date: datetime
    text: str
    quoted: str
    attachments: list[Attachment]
    size_bytes: int
    is_stub: bool = False

    @property
    def addresses(self) -> set[str]:
        return {a for a in [self.from_address, *self.to, *self.cc] if a}


_BROKEN = (ValueError, TypeError, IndexError, LookupError, AttributeError)
# The MIME headers that say how a mail is built: read several times per mail, and mostly
# the same in every mail. They hold nothing about a person, so they may be remembered.
_STRUCTURE = frozenset(
    ["content-type", "content-transfer-encoding", "content-disposition", "mime-version"]
)


class _Policy(EmailPolicy):
    """``policy.default``, remembering the MIME headers it parsed: parsing them again for
    each look at a part took half the time of reading a mail."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if name.lower() in _STRUCTURE:
            return _structure_header(self, name, value)
        return super().header_fetch_parse(name, value)


@lru_cache(maxsize=4096)
def _structure_header(policy: "_Policy", name: str, value: str) -> Any:
    return EmailPolicy.header_fetch_parse(policy, name, value)


POLICY = _Policy()


def _values(message: Message, name: str) -> list[str]:
    """A header's values as text; where the parser cannot read one, its raw characters."""
    try:
        return [str(v) for v in message.get_all(name, [])]
    except _BROKEN:
        return [str(v) for k, v in message.raw_items() if k.lower() == name.lower()]


def _header(message: Message, name: str) -> str:
    values = _values(message, name)
    return " ".join(values[0].split()) if values else ""


def _addresses(message: Message, name: str) -> list[tuple[str, str]]:
    """(name, lower-cased address) of each well-formed address in the header."""
    found = []
    for display, address in getaddresses(_values(message, name)):
        address = address.strip().lower()
        if "@" in address and " " not in address and len(address) <= 254:
            found.append((" ".join(display.split())[:200], address))
    return found


_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _ids(value: str) -> list[str]:
    return _MESSAGE_ID.findall(value)


def _date(value: str, *, received: datetime) -> datetime:
    """The Date header, unless it is missing, unreadable, in the future or implausibly
    old: then when the server received it."""
    try:
        moment = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None:
        return received
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment < EARLIEST or moment > received + CLOCK_SKEW:
        return received
    return moment


class _TextOfHtml(HTMLParser):
    """HTML to plain text: blocks become lines, scripts and styles vanish."""

    BLOCKS = frozenset(
        [
            "p",
            "div",
            "br",
            "li",
            "tr",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "blockquote",
            "pre",
            "table",
            "ul",
            "ol",
            "section",
            "article",
        ]
    )
    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.quote_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag == "blockquote":
            self.quote_depth += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        text = " ".join(data.split())
        if not text:
            return
        if self.quote_depth and (not self.parts or self.parts[-1].endswith("\n")):
            text = "> " * self.quote_depth + text
        elif self.parts and not self.parts[-1].endswith(("\n", " ")):
            text = " " + text
        self.parts.append(text)


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# Where a reply's own text ends: the line that introduces the quote ("On ... wrote:",
# "Am ... schrieb ...:"), Outlook's separator, or the signature delimiter "-- ".
_QUOTE_INTRO = re.compile(
    r"^(On .{1,200} wrote:|Am .{1,200} schrieb .{0,200}:|-{2,} ?(Original Message|Ursprüngliche"
    r" Nachricht) ?-{2,}|From: .+|Von: .+)$",
    re.IGNORECASE,
)
_SIGNATURE = "-- "


def split_quote(text: str) -> tuple[str, str]:
    """(own text, quoted part and signature). Only cut where it is reliable: at a
    signature delimiter, at a quote's introduction followed by quoted lines, or at a
    final block of quoted lines."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        rest = lines[i + 1 :]
        if line == _SIGNATURE or (
            _QUOTE_INTRO.match(line.strip())
            and (line.startswith(("From:", "Von:", "-")) or any(r.startswith(">") for r in rest))
        ):
            return "\n".join(lines[:i]).rstrip(), "\n".join(lines[i:]).strip()
    end = len(lines)
    while end and (lines[end - 1].startswith(">") or not lines[end - 1].strip()):
        end -= 1
    if any(line.startswith(">") for line in lines[end:]) and end:
        return "\n".join(lines[:end]).rstrip(), "\n".join(lines[end:]).strip()
    return text.strip(), ""


def _content(part: Message) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
    except (*_BROKEN, AssertionError):
        payload = part.get_payload(decode=True) or b""
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else ""


def _text(message: EmailMessage) -> str:
    try:
        body = message.get_body(preferencelist=("plain", "html"))
    except _BROKEN:
        body = None
    if body is None:
        if message.is_multipart() or message.get_content_maintype() != "text":
            return ""
        body = message
    content = _content(body)
    if body.get_content_subtype() == "html":
        return html_to_text(content)
    return content.replace("\r\n", "\n").replace("\r", "\n")


def _attachments(message: EmailMessage, keep_up_to: int) -> list[Attachment]:
    found = []
    try:
        parts = list(message.iter_attachments()) if message.is_multipart() else []
    except _BROKEN:
        parts = []
    for part in parts:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        try:
            filename = part.get_filename() or ""
        except _BROKEN:
            filename = ""
        found.append(
            Attachment(
                filename=(" ".join(filename.split()) or "attachment")[:255],
                content_type=part.get_content_type()[:255],
                size_bytes=len(data),
                content=data if 0 < len(data) <= keep_up_to else None,
            )
        )
    return found


def parse(
    raw: bytes,
    *,
    received: datetime,
    size_bytes: int | None = None,
    stub: bool = False,
    keep_up_to: int = 0,
) -> ParsedMail:
    """Parse one mail. ``stub``: ``raw`` holds only the headers of a mail too large to
    read; it is kept with its size and without text. Attachments up to ``keep_up_to``
    bytes come with their content."""
    message = message_from_bytes(raw, policy=POLICY)
    assert isinstance(message, EmailMessage)
    sender = (_addresses(message, "From") or _addresses(message, "Sender") or [("", "")])[0]
    references = _ids(_header(message, "References"))
    in_reply_to = (_ids(_header(message, "In-Reply-To")) or [""])[0]
    message_id = (_ids(_header(message, "Message-ID")) or [""])[0][:998]
    text, quoted = ("", "") if stub else split_quote(_text(message))
    return ParsedMail(
        message_id=message_id,
        subject=_header(message, "Subject")[:500],
        from_name=sender[0],
        from_address=sender[1],
        to=[a for _, a in _addresses(message, "To")],
        cc=[a for _, a in _addresses(message, "Cc")],
        thread_root=(references[:1] or [in_reply_to or message_id])[0],
        in_reply_to=in_reply_to,
        references=[*references, *([in_reply_to] if in_reply_to not in references else [])][-50:]
        if in_reply_to
        else references[-50:],
        date=_date(_header(message, "Date"), received=received),
        text=text[:MAX_TEXT],
        quoted=quoted[:MAX_QUOTED],
        attachments=[] if stub else _attachments(message, keep_up_to),
        size_bytes=size_bytes if size_bytes is not None else len(raw),
        is_stub=stub,
    )
