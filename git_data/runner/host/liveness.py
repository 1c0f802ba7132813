"""What the supervisor keeps going beside the command (standard library only): the heartbeat
(heartbeat.py) and the continuous upload of logs and outputs (uploader.py). The supervisor
calls :func:`attach` once; the rest of it sees only the two objects returned."""

from __future__ import annotations

from typing import Any

from .heartbeat import Heartbeat, interval
from .uploader import Uploader

SCAN_S = 1.0  # how often the outputs are looked at (stat only) for settled and grown files


def attach(supervisor: Any) -> tuple[Uploader, Heartbeat]:
    """The uploader and the (not yet started) heartbeat of ``supervisor``'s run."""
    every = supervisor.intervals
    every.setdefault("scan", min(SCAN_S, float(every.get("upload", SCAN_S))))
    sync = Uploader(supervisor.store, supervisor.key, supervisor.logs, supervisor.checkout,
                    supervisor.spec, supervisor.note)
    beat = Heartbeat(supervisor.store, supervisor.key, interval(every), supervisor.note)
    return sync, beat
