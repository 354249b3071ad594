"""The installed OrderCare version (no other imports: `ordercare --version` loads it before
PROMETHEUS_MULTIPROC_DIR is set, which prometheus_client reads once, at import)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version


def build_version() -> str:
    try:
        return package_version("ordercare")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"
