"""The SendGrid request the adapter builds, how it reads SendGrid's answers, and the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import ValidationError

from notifier.mail import Mail
from notifier.sendgrid_mailer import SendGridMailer, error_text, retry_after
from notifier.settings import NotifierSettings

ADA_MAIL = Mail("ada@example.com", "Ada Lovelace", "d-confirmed-en", {"order_id": "ord_ada_1"},
                {"notification_id": "7", "event_id": "ev-1"})  # fmt: skip


def mailer(sandbox: bool = False) -> SendGridMailer:
    return SendGridMailer("SG.key", host="http://127.0.0.1:9", from_email="orders@shop.example",
                          from_name="The Shop", sandbox=sandbox)  # fmt: skip


def test_the_request_names_the_template_the_customer_and_the_data() -> None:
    body = mailer().body(ADA_MAIL)
    assert body["template_id"] == "d-confirmed-en"
    assert body["from"] == {"email": "orders@shop.example", "name": "The Shop"}
    [person] = body["personalizations"]
    assert person["to"] == [{"email": "ada@example.com", "name": "Ada Lovelace"}]
    assert person["dynamic_template_data"] == {"order_id": "ord_ada_1"}
    assert body["custom_args"] == {"notification_id": "7", "event_id": "ev-1"}
    assert "mail_settings" not in body


def test_sandbox_mode_reaches_the_request() -> None:
    assert mailer(sandbox=True).body(ADA_MAIL)["mail_settings"] == {
        "sandbox_mode": {"enable": True}
    }


def test_a_mail_keeps_the_address_and_data_out_of_its_repr() -> None:
    assert "ada@" not in repr(ADA_MAIL)
    assert "ord_ada_1" not in repr(ADA_MAIL)


def test_sendgrid_error_messages_are_read_from_its_json_body() -> None:
    body = b'{"errors":[{"message":"The from address does not match a verified Sender Identity.","field":"from"}]}'
    assert (
        error_text(body)
        == "The from address does not match a verified Sender Identity. (field from)"
    )
    assert error_text(b"<html>Bad gateway</html>") == "<html>Bad gateway</html>"
    assert error_text(b"") is None


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < (retry_after({"Retry-After": later}) or 0) <= 120
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_templates_for_an_unknown_kind_are_refused_at_startup() -> None:
    with pytest.raises(ValidationError, match="unknown notification kinds"):
        NotifierSettings(notifier_templates={"order_confrimed": {"en": "d-1"}})


def test_templates_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERCARE_NOTIFIER_TEMPLATES", '{"shipped": {"en": "d-1", "de": "d-2"}}')
    monkeypatch.setenv("ORDERCARE_SENDGRID_API_KEY", "SG.secret")
    settings = NotifierSettings()
    assert settings.notifier_templates == {"shipped": {"en": "d-1", "de": "d-2"}}
    assert "SG.secret" not in repr(settings)


def test_the_sending_lease_must_outlast_a_request() -> None:
    with pytest.raises(ValidationError, match="lease"):
        NotifierSettings(sendgrid_timeout_seconds=30, notifier_sending_lease_seconds=20)
