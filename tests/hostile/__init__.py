"""OrderCare's own hostile-input suite.

`generator` builds reproducible hostile messages (valid ones from tests/messages.py, then
broken or mutated); `harness` publishes them with pika to real `ordercare worker` and
`ordercare relay` processes and accounts for every one: exactly one outcome or one dead
letter each, no card number echoed anywhere, no effect of an invalid command, no process
lost. `python -m tests.hostile --n N --seed S` (or `ops/run fuzz …`) runs it on its own
scratch database and vhost; tests/e2e/test_hostile_suite.py is its bounded tier.
"""
