"""A parent run's heartbeat: a background thread that tells reconciliation its process is alive.

A training beats once per epoch (`record.heartbeat`); a sweep's or a search's parent run does no
epochs, yet lives as long as all its jobs. On a shared server, `reconcile` from another host judges
such a run by its heartbeat alone and would end a long sweep FAILED while its jobs still run. While
this thread runs, the parent's `dropout_lab.heartbeat` tag is never older than a quarter of
`tracking.stale_after_s` (at most a minute).
"""

from __future__ import annotations

import logging
import threading
import time

from pipeline.tracking.store import Store
from pipeline.tracking.tags import TAG_HEARTBEAT

log = logging.getLogger(__name__)
MAX_INTERVAL_S = 60.0
MIN_INTERVAL_S = 0.2


def interval_for(stale_after_s: float) -> float:
    """A beat four times per stale period, at most once a minute, at least every 0.2 s."""
    return max(MIN_INTERVAL_S, min(MAX_INTERVAL_S, stale_after_s / 4))


class ParentHeartbeat:
    """Beat for `run_id` every `interval_for(stale_after_s)` seconds until `stop()` (or exit).

    with ParentHeartbeat(store, parent_run_id, settings.tracking.stale_after_s):
        ...  # jobs run
    """

    def __init__(self, store: Store, run_id: str, stale_after_s: float) -> None:
        self.store, self.run_id = store, run_id
        self.interval = interval_for(stale_after_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{run_id[:8]}", daemon=True)

    def start(self) -> ParentHeartbeat:
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> None:
        """One beat; a store that is busy or gone for a moment only delays the next one."""
        try:
            self.store.client.set_tag(self.run_id, TAG_HEARTBEAT, f"{time.time():.3f}")
        except Exception:
            log.debug("heartbeat of run %s failed; trying again", self.run_id, exc_info=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5.0)

    def __enter__(self) -> ParentHeartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
