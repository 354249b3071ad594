"""A refund made by a change an agent kept from the customer (`notify_customer: false`) is
confirmed later by the payment service; that confirmation must not e-mail the customer
either. Through RabbitMQ and PostgreSQL: the refunds row remembers, and the refund.settled
the confirmation publishes carries notifycustomer false, which the notifier records as
skipped suppressed_by_agent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors.settings import Settings
from notifier.kinds import Customer, notifications_for
from tests import messages as m
from tests.sendgrid_standin import SendGridStandIn, running

from .conftest import Pipeline, query, run
from .test_notifier import Running

ADA = Customer("acc_ada", "Ada Lovelace", "ada@example.com", "de-DE")


def seed(pipeline: Pipeline) -> None:
    for doc in (m.catalog(), m.account(), m.order("ord_1001")):
        outcome, _events = run(pipeline, doc)
        assert outcome["type"] == "command.accepted", outcome


def cut_and_confirm(pipeline: Pipeline, *, notify: bool) -> tuple[dict[str, Any], Any]:
    """One tee fewer, told or not; then the payment service confirms the refund."""
    cut = m.amend("ord_1001", [{"action": "set_quantity", "line_id": "l1", "quantity": 1}],
                  notify_customer=notify)  # fmt: skip
    _outcome, events = run(pipeline, cut)
    refund_id = events["refund.requested"]["data"]["refund"]["refund_id"]
    settled = m.payment("payment.refund_settled", "ord_1001", refund_id=refund_id,
                        provider_reference="re_3Q0")  # fmt: skip
    outcome, confirmed = run(pipeline, settled)
    assert outcome["type"] == "command.accepted", outcome
    return confirmed["refund.settled"], query(
        pipeline, "SELECT notify_customer FROM refunds WHERE id = %s", refund_id
    )


@pytest.mark.parametrize(("notify", "mailed"), [(False, "suppressed_by_agent"), (True, None)])
def test_the_confirmation_of_a_refund_is_as_quiet_as_the_change_that_made_it(
    pipeline: Pipeline, notify: bool, mailed: str | None
) -> None:
    seed(pipeline)

    event, stored = cut_and_confirm(pipeline, notify=notify)

    assert stored == [(notify,)]
    assert event.get("notifycustomer", True) is notify
    [planned] = notifications_for(event, ADA)
    assert (planned.kind, planned.skip) == ("refund_issued", mailed)


@pytest.fixture
def sendgrid() -> Iterator[SendGridStandIn]:
    with running() as standin:
        yield standin


@pytest.mark.parametrize(("notify", "status", "reason"),
                         [(False, "skipped", "suppressed_by_agent"), (True, "sent", None)])  # fmt: skip
def test_the_running_notifier_records_a_suppressed_changes_refund_confirmation_as_skipped(
    pipeline: Pipeline, settings: Settings, sendgrid: SendGridStandIn, notify: bool,
    status: str, reason: str | None,
) -> None:  # fmt: skip
    templates = {"refund_issued": {"en": "d-refund-en"}, "order_changed": {"en": "d-changed-en"}}
    notifier = Running(settings, sendgrid, notifier_templates=templates)
    try:
        seed(pipeline)

        event, _stored = cut_and_confirm(pipeline, notify=notify)

        row = notifier.row(event["id"], status)
        assert (row["kind"], row["reason"]) == ("refund_issued", reason)
        mailed = [mail.template_id for mail in sendgrid.accepted]
        assert ("d-refund-en" in mailed) is notify
    finally:
        notifier.close()
