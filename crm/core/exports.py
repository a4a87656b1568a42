"""CSV that spreadsheets open safely."""

import csv
import io
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

# A cell starting with one of these is run as a formula by spreadsheet programs.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
EXCEL_BOM = "\ufeff"  # lets Excel recognise UTF-8


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """The CSV text line by line, starting with a BOM and the header."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[Any]) -> str:
        writer.writerow([safe_cell(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    rows = iter(rows)
    # Whatever makes the rows runs, and may fail, before the header is given out.
    first = list(islice(rows, 1))
    yield EXCEL_BOM + line(header)
    for row in chain(first, rows):
        yield line(row)
