"""``git_data.log(step=..., loss=...)``: metrics for code that uses no tracking library.

Inside `git data run` (``GIT_DATA_RUN_OUTPUT`` set by the host) each call appends one JSON
line ``{"step": N, "time": T, "loss": ...}`` to ``<output>/metrics.jsonl``, in one
``write(2)`` (appendlog), so the file is always whole lines and uploads with the outputs.
Outside a run nothing is written: the values are printed on stderr, so a script tried on a
laptop leaves no stray file behind. Standard library only, cheap per call.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from .. import appendlog

FILE = "metrics.jsonl"
_next_step = 0


def log(step: int | None = None, **metrics: Any) -> None:
    """Record ``metrics`` (name=number; numpy and torch scalars too) at ``step`` (default:
    one more than the last call's)."""
    global _next_step
    values: dict[str, float] = {}
    for name, value in metrics.items():
        try:
            values[name] = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"git_data.log: {name}={value!r} is not a number") from None
    step = _next_step if step is None else int(step)
    _next_step = step + 1
    output = os.environ.get("GIT_DATA_RUN_OUTPUT")
    if not output:
        shown = " ".join(f"{k}={v:g}" for k, v in values.items())
        print(f"git_data.log: step {step} {shown} (not inside `git data run`: not recorded)",
              file=sys.stderr)
        return
    line = {"step": step, "time": round(time.time(), 3),
            **{k: (v if math.isfinite(v) else None) for k, v in values.items()}}
    appendlog.append(Path(output) / FILE, json.dumps(line) + "\n")
