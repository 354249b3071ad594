"""The folder `ordercare worker`'s processes share their metrics in (prometheus_client's
multiprocess mode): made per run, named after the owning process, removed when the worker
exits; folders of workers that died without cleaning up are removed when the next starts."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "ordercare-metrics-"
#: A folder of the earlier, unnamed kind counts as stale once nothing in it changed for this long.
UNOWNED_STALE_SECONDS = 24 * 3600


def make_metrics_dir() -> Path:
    """A new folder `ordercare-metrics-<pid>-<random>` in the temporary folder."""
    remove_stale_metrics_dirs()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def remove_stale_metrics_dirs(folder: Path | None = None) -> list[Path]:
    """Remove the metrics folders whose owning process is gone; the removed ones."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if path.is_dir() and not path.is_symlink() and _stale(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _stale(path: Path) -> bool:
    owner = path.name.removeprefix(PREFIX).split("-", 1)[0]
    if owner.isdigit():
        return not _alive(int(owner))
    try:  # made before folders were named after their owner: judge by when it last changed
        newest = max([p.stat().st_mtime for p in path.iterdir()] + [path.stat().st_mtime])
    except OSError:
        return False
    return time.time() - newest > UNOWNED_STALE_SECONDS


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
