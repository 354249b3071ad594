"""The hostile-input suite's bounded tier: a few hundred hostile messages through real
`ordercare worker` and `ordercare relay` processes (tests/hostile; the long runs are
`ops/run fuzz --n N --seed S`). ORDERCARE_HOSTILE_SEED replays another seed."""

from __future__ import annotations

import os

from actors.settings import Settings
from tests.e2e.conftest import Processes
from tests.hostile.harness import Harness, Options

SEED = int(os.environ.get("ORDERCARE_HOSTILE_SEED", "20261126"))
MESSAGES = 2000


def test_every_hostile_message_ends_in_exactly_one_outcome_or_dead_letter(
    settings: Settings, processes: Processes
) -> None:
    options = Options(n=MESSAGES, seed=SEED, processes=2, threads=4, give_up_seconds=15)
    report = Harness(settings, processes, options).run()
    assert report.ok, "\n" + report.render(examples=3)
    assert report.published == MESSAGES
