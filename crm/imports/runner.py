"""The thread that runs imports inside an app process.

A request queues an import and wakes the runner after its transaction has committed.
The runner also looks for work every half minute, so that imports queued by another
process, or interrupted by a restart, are not forgotten.
"""

import logging
import threading

from crm.imports import service as import_service
from crm.imports.files import SessionFactory

log = logging.getLogger("crm.imports")

POLL_SECONDS = 30


class ImportRunner:
    def __init__(self, open_session: SessionFactory) -> None:
        self.open_session = open_session
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="imports", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                import_service.run_pending(self.open_session)
            except Exception:  # the database may be away for a moment; try again later
                log.exception("looking for imports failed")


class InlineRunner:
    """Runs queued imports at once, in the caller's thread: for tests and the CLI."""

    def __init__(self, open_session: SessionFactory) -> None:
        self.open_session = open_session

    def wake(self) -> None:
        import_service.run_pending(self.open_session)

    def stop(self) -> None:
        return None
