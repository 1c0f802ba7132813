"""`git data tensorboard`: a run's TensorBoard event files (those only, by name) from the
store into ``<logdir>/<run id>/<path below outputs>``, then TensorBoard on them, bound to
loopback. A file already there with the store's size is not fetched again (event files
only grow)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from .. import safeio
from ..errors import FatalError
from ..runner.host.paths import below, run_key
from ..store import CHUNK, Store
from .runmetrics import EVENTS_PREFIX


def fetch(store: Store, run_id: int, logdir: Path) -> tuple[list[Path], int]:
    """(the event files of the run, here; how many were downloaded now)."""
    prefix = f"{run_key(run_id)}/outputs"
    keys = store.find(prefix) if store.exists(prefix) else []
    wanted = [(key, below(prefix, key, store.describe())) for key in sorted(keys)]
    wanted = [(key, rel) for key, rel in wanted if rel.rpartition("/")[2].startswith(EVENTS_PREFIX)]
    root = logdir / str(run_id)
    paths, fetched = [], 0
    for key, rel in wanted:
        target = safeio.inside(root, rel)
        size = store.size(key)
        if target.is_file() and not target.is_symlink() and target.stat().st_size == size:
            paths.append(target)
            continue
        with safeio.atomic_path(target, root=logdir) as out, store.open(key, "rb") as source:
            while chunk := source.read(CHUNK):
                out.write(chunk)
        paths.append(target)
        fetched += 1
    return paths, fetched


def command(folders: dict[int, Path], port: int) -> list[str]:
    """The TensorBoard command line: each run under its own name (``run3``), loopback only."""
    for folder in folders.values():
        if "," in str(folder) or ":" in str(folder):
            raise FatalError(f"--logdir {folder}: TensorBoard cannot take a folder whose path "
                             "has ',' or ':'; give another --logdir")
    if importlib.util.find_spec("tensorboard") is not None:
        start = [sys.executable, "-m", "tensorboard.main"]
    elif shutil.which("tensorboard"):
        start = ["tensorboard"]
    else:
        raise FatalError("TensorBoard is not installed: pip install 'git-data[experiments]' "
                         "(or tensorboard)")
    spec = ",".join(f"run{run_id}:{folder}" for run_id, folder in sorted(folders.items()))
    return [*start, "--logdir_spec", spec, "--host", "127.0.0.1", "--port", str(port)]
