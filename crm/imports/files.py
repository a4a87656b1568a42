"""The uploaded file: stored in chunks, its encoding and separator found, read back as
rows without ever holding it whole in memory."""

import codecs
import csv
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import insert
from sqlmodel import Session, select

from crm.contacts import vcard
from crm.core.errors import N_, Invalid, TooLarge
from crm.imports.models import ImportChunk, ImportFormat

CHUNK_BYTES = 1 << 20
DELIMITERS = (",", ";", "\t", "|")
# Excel's "Unicode text" is UTF-16; anything that is not UTF-8 is read as Windows-1252,
# what Excel writes as "CSV" on a western Windows.
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
FALLBACK_ENCODING = "cp1252"
# The csv module's limit: a longer cell is no name or note but a file that is no CSV.
LONGEST_CELL = csv.field_size_limit()

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass
class Stored:
    size: int
    encoding: str
    head: str  # the start of the text, for sniffing


def store(session: Session, *, job_id: int, stream: BinaryIO, max_bytes: int) -> Stored:
    """Copy the upload into the job's chunks, checking its size and whether it is UTF-8."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8, has_nul, size, position, first = True, False, 0, 0, b""
    while data := stream.read(CHUNK_BYTES):
        size += len(data)
        has_nul = has_nul or b"\0" in data
        if size > max_bytes:
            raise TooLarge(
                N_("The file is larger than %(limit)s MB."),
                field="file",
                limit=max_bytes // (1 << 20),
            )
        if is_utf8:
            try:
                utf8.decode(data)
            except UnicodeDecodeError:
                is_utf8 = False
        if position == 0:
            first = data
        # Core, not the ORM: the session would otherwise keep every chunk in memory.
        session.execute(insert(ImportChunk).values(job_id=job_id, position=position, data=data))
        position += 1
    if size == 0:
        raise Invalid(N_("The file is empty."), field="file")
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    encoding = next((name for bom, name in BOMS if first.startswith(bom)), None)
    encoding = encoding or ("utf-8" if is_utf8 else FALLBACK_ENCODING)
    if has_nul and encoding != "utf-16":  # only UTF-16 text holds NUL bytes
        raise Invalid(
            N_(
                "This is not a CSV or vCard file: it holds binary data (a spreadsheet or an "
                "archive?). Save it as CSV and upload that."
            ),
            field="file",
        )
    head = codecs.getincrementaldecoder(encoding)(errors="replace").decode(first[:65536])
    return Stored(size=size, encoding=encoding, head=head)


def detect_format(filename: str, head: str) -> ImportFormat:
    if filename.lower().endswith((".vcf", ".vcard")):
        return ImportFormat.VCARD
    if head.lstrip("\ufeff \r\n").upper().startswith("BEGIN:VCARD"):
        return ImportFormat.VCARD
    return ImportFormat.CSV


def detect_delimiter(head: str) -> str:
    """The separator used most in the first line that has any: Excel writes ";" where
    the comma is the decimal sign."""
    for line in head.lstrip("\ufeff").splitlines():
        if line.strip():
            return max(DELIMITERS, key=line.count)
    return ","


def _text(open_session: SessionFactory, job_id: int, encoding: str) -> Iterator[str]:
    """The file decoded piece by piece, one chunk read per short session."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    position = 0
    while True:
        with open_session() as session:
            data = session.exec(
                select(ImportChunk.data).where(
                    ImportChunk.job_id == job_id, ImportChunk.position == position
                )
            ).first()
        if data is None:
            break
        yield decoder.decode(data)
        position += 1
    yield decoder.decode(b"", final=True)


def lines(open_session: SessionFactory, job_id: int, encoding: str) -> Iterator[str]:
    """The file's lines, each with its line end. Only "\\n" ends a line: the csv module
    itself handles "\\r\\n" and line breaks inside quoted cells."""
    rest = ""
    for piece in _text(open_session, job_id, encoding):
        buffer = rest + piece
        start = 0
        while (end := buffer.find("\n", start)) != -1:
            yield buffer[start : end + 1]
            start = end + 1
        rest = buffer[start:]
    if rest:
        yield rest


@dataclass
class Record:
    row: int  # the line it starts on, as a spreadsheet numbers it
    cells: list[str]


def _readable(reader: Any) -> Iterator[list[str]]:
    """The reader's rows; a file the csv module cannot read is refused at its line."""
    try:
        yield from reader
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise Invalid(
                N_("Line %(line)s holds a cell longer than %(limit)s characters."),
                field="file",
                line=reader.line_num,
                limit=LONGEST_CELL,
            ) from exc
        raise Invalid(
            N_("Line %(line)s cannot be read as CSV."), field="file", line=reader.line_num
        ) from exc


def csv_records(text_lines: Iterator[str], delimiter: str) -> Iterator[Record]:
    """Every non-empty row after the header."""
    reader = csv.reader(text_lines, delimiter=delimiter)
    header_seen = False
    row = 1
    for cells in _readable(reader):
        if any(cell.strip() for cell in cells):
            if header_seen:
                yield Record(row=row, cells=cells)
            header_seen = True
        row = reader.line_num + 1


def header(head: str, delimiter: str) -> list[str]:
    """The cells of the first non-empty row."""
    reader = csv.reader(head.lstrip("\ufeff").splitlines(), delimiter=delimiter)
    for cells in _readable(reader):
        if any(cell.strip() for cell in cells):
            return [cell.strip() for cell in cells]
    return []


def vcard_records(text_lines: Iterator[str]) -> Iterator[tuple[int, dict[str, str]]]:
    for found in vcard.read_cards(text_lines):
        yield found.line, vcard.fields_of(found)
