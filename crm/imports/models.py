"""Imports of contacts and companies from CSV and vCard files.

The uploaded file is kept in the database in chunks, so that any app process can run the
import and deleting the import deletes the file. Problems (rows that failed or were
skipped) are kept for the downloadable report.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, LargeBinary
from sqlmodel import Field, SQLModel

from crm.core.db import Privacy, column, timestamp, utcnow


class ImportKind(StrEnum):
    CONTACTS = "contacts"
    COMPANIES = "companies"


class ImportFormat(StrEnum):
    CSV = "csv"
    VCARD = "vcard"


class OnDuplicate(StrEnum):
    UPDATE = "update"
    SKIP = "skip"


class ImportStatus(StrEnum):
    UPLOADED = "uploaded"  # waiting for its column mapping
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(SQLModel, table=True):
    __tablename__ = "import_job"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    kind: str = column(Privacy.NONE, max_length=16)
    format: str = column(Privacy.NONE, max_length=8)
    # A file name may name a person ("anna-mueller.vcf").
    filename: str = column(Privacy.FREE_TEXT, max_length=255)
    size_bytes: int = column(Privacy.NONE, default=0)
    encoding: str = column(Privacy.NONE, max_length=16)
    delimiter: str = column(Privacy.NONE, default=",", max_length=1)
    # The CSV's header cells, in order; a header names columns, not people.
    columns: list[str] = column(Privacy.NONE, default_factory=list, sa_type=JSON)
    # Column position (as text, JSON keys are strings) -> field it fills.
    mapping: dict[str, str] = column(Privacy.NONE, default_factory=dict, sa_type=JSON)
    on_duplicate: str = column(Privacy.NONE, default=OnDuplicate.SKIP, max_length=8)
    status: str = column(Privacy.NONE, default=ImportStatus.UPLOADED, max_length=16, index=True)
    rows_total: int = column(Privacy.NONE, default=0)
    rows_done: int = column(Privacy.NONE, default=0)
    created: int = column(Privacy.NONE, default=0)
    updated: int = column(Privacy.NONE, default=0)
    skipped: int = column(Privacy.NONE, default=0)
    failed: int = column(Privacy.NONE, default=0)
    # Why a whole import failed (an msgid); problems with single rows are ImportProblems.
    error: str | None = column(Privacy.NONE, default=None, max_length=300)
    created_by_id: int | None = column(
        Privacy.NONE, default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    created_at: datetime = timestamp(default_factory=utcnow)
    started_at: datetime | None = timestamp(default=None)
    finished_at: datetime | None = timestamp(default=None)
    # Touched with every committed batch: a running import that stops being touched was
    # interrupted and is resumed.
    updated_at: datetime = timestamp(default_factory=utcnow)

    @property
    def progress(self) -> int:
        """Percent of the rows handled."""
        if self.status == ImportStatus.DONE:
            return 100
        return 100 * self.rows_done // self.rows_total if self.rows_total else 0

    @property
    def finished(self) -> bool:
        return self.status in (ImportStatus.DONE, ImportStatus.FAILED)


class ImportChunk(SQLModel, table=True):
    """A slice of the uploaded file, as uploaded (bytes, before decoding)."""

    __tablename__ = "import_chunk"

    job_id: int = column(
        Privacy.NONE, foreign_key="import_job.id", ondelete="CASCADE", primary_key=True
    )
    position: int = column(Privacy.NONE, primary_key=True)
    data: bytes = column(Privacy.PERSONAL, sa_type=LargeBinary)


class ImportProblem(SQLModel, table=True):
    """A row that failed or was skipped, with the cells it had, for the report."""

    __tablename__ = "import_problem"

    id: int | None = column(Privacy.NONE, default=None, primary_key=True)
    job_id: int = column(Privacy.NONE, foreign_key="import_job.id", ondelete="CASCADE", index=True)
    row: int = column(Privacy.NONE)
    skipped: bool = column(Privacy.NONE, default=False)
    field: str | None = column(Privacy.NONE, default=None, max_length=64)
    # An msgid and its parameters, translated when shown; parameters may name people.
    message: str = column(Privacy.NONE, max_length=300)
    params: dict[str, Any] = column(Privacy.PERSONAL, default_factory=dict, sa_type=JSON)
    cells: list[str] = column(Privacy.PERSONAL, default_factory=list, sa_type=JSON)


class ImportPublic(SQLModel):
    """An import as the API shows it; poll it until ``status`` is done or failed."""

    id: int
    kind: ImportKind = Field(description="What the file holds: contacts or companies.")
    format: ImportFormat = Field(description="csv or vcard, found from the name and content.")
    filename: str
    status: ImportStatus = Field(
        description="uploaded (waiting for its mapping), queued, running, done or failed."
    )
    encoding: str = Field(description="How the file was read: utf-8, utf-8-sig, utf-16, cp1252.")
    delimiter: str = Field(description="The CSV separator found in the header line.")
    columns: list[str] = Field(description="The CSV header cells, in order.")
    mapping: dict[str, str] = Field(
        description="Column position (as text) -> field it fills; unmapped columns are left out."
    )
    on_duplicate: OnDuplicate = Field(description="What happens to records that exist already.")
    rows_total: int = Field(description="Non-empty rows (or cards) in the file.")
    rows_done: int = Field(description="Rows handled so far, committed with their data.")
    created: int
    updated: int
    skipped: int = Field(description="Duplicates skipped; listed in problems.csv.")
    failed: int = Field(description="Rows refused; listed with their reasons in problems.csv.")
    error: str | None = Field(description="Why the whole import stopped, if it did.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
