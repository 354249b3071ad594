"""The malloc settings long-running processes apply (actors/memory.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actors.memory import tune_malloc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_glibc_takes_the_settings_and_python_runs_on() -> None:
    # In a child, so this test process keeps its defaults.
    code = "from actors.memory import tune_malloc; assert tune_malloc(); print(len(bytes(10**7)))"

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "10000000"


def test_elsewhere_it_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")

    assert tune_malloc() is False
