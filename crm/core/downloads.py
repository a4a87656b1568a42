"""Files sent while they are made: exports of any length in little memory."""

from collections.abc import Iterator
from itertools import chain

from fastapi.responses import StreamingResponse


def download(chunks: Iterator[str], *, filename: str, media_type: str) -> StreamingResponse:
    """Its first part is made before the answer starts: a query that fails (a filter out
    of range, the database away) is answered with its error and status, not with a 200
    whose download breaks off."""
    first = next(chunks, "")
    return StreamingResponse(
        chain((first,), chunks),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
