"""Third-party modules for the host side, loaded only when needed (standard library only).

The agent and the supervisor start with ``python -S`` (no site-packages: their start-up is
several times faster, which is most of a warm run's latency). When one of them needs xxhash or
fsspec, :func:`load` adds the host's site-packages and puts the copies shipped beside the
agent (``<agent dir>/deps/<dist>/``) before them. What was shipped is every module the agent
needs with the client's whole dependency closure, so it must win over the host's own (possibly
older) copies of those dependencies.
"""

from __future__ import annotations

import glob
import os
import sys
import threading

HOME: str | None = None  # the folder holding this git_data package (set by the agent)
_loaded = False
_lock = threading.Lock()


def load() -> None:
    global _loaded
    with _lock:  # download threads may all ask at once; none may import before it is done
        if _loaded:
            return
        if sys.flags.no_site:
            import site

            site.main()
        if HOME:
            deps = [path for path in sorted(glob.glob(os.path.join(HOME, "deps", "*")))
                    if ".tmp-" not in path and path not in sys.path]
            sys.path[1:1] = deps  # after the agent's own folder, before site-packages
        _loaded = True


def shipped(module: str) -> bool:
    """Whether a copy of ``module`` was shipped beside the agent (cheap: no site loading)."""
    if not HOME:
        return False
    for path in glob.glob(os.path.join(HOME, "deps", "*")):
        if ".tmp-" not in path and (os.path.isdir(os.path.join(path, module))
                                    or glob.glob(os.path.join(path, module + ".*"))):
            return True
    return False
