"""The CloudEvents 1.0 envelope (JSON structured mode) around every message."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The CloudEvents attributes OrderCare reads; extension attributes are tolerated.
ENVELOPE_FIELDS = ("specversion", "id", "source", "type", "time", "subject")


class Envelope(BaseModel):
    """A CloudEvents 1.0 message as published by helpdesks, warehouses and OrderCare."""

    model_config = ConfigDict(extra="allow", frozen=True, hide_input_in_errors=True)

    specversion: Literal["1.0"]
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=100, description="Also the routing key.")
    time: datetime | None = None
    subject: str | None = Field(default=None, max_length=200)
    datacontenttype: str = Field(
        default="application/json", pattern=r"^application/(cloudevents\+)?json\s*(;.*)?$"
    )
    correlationid: str | None = Field(default=None, max_length=200)
    causationid: str | None = Field(default=None, max_length=200)
    data: Any = Field(default=None, description="The message; its schema depends on `type`.")
