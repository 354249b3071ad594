"""`ordercare worker` leaves no metrics folder behind: its own is removed when it stops, and
those of workers that died without cleaning up are removed when the next one starts."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from actors.settings import Settings
from tests.e2e.conftest import ORDERCARE, environment
from tests.servers import wait_for


def test_a_worker_removes_its_metrics_folder_on_sigterm_and_stale_ones_on_start(
    settings: Settings, tmp_path: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(10)
    stale = tmp_path / f"ordercare-metrics-{dead.pid}-abc123"
    stale.mkdir()
    (stale / "counter_1.db").write_bytes(b"old")
    live = tmp_path / "ordercare-metrics-1-alive"  # pid 1 is always running
    live.mkdir()
    env = environment(settings) | {"TMPDIR": str(tmp_path)}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([ORDERCARE, "worker", "--processes", "1", "--threads", "1",
                               "--metrics-port", "0"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        own = wait_for(
            lambda: list(tmp_path.glob(f"ordercare-metrics-{worker.pid}-*")), 30, "its folder"
        )
        assert not stale.exists()
        assert live.exists()
        wait_for(lambda: list(own[0].glob("*.db")), 30, "a worker process writing metrics")
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(30)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()
    assert not own[0].exists()
    assert live.exists()
