"""Column types of the schema (persistence/tables.py and the migrations)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric
from sqlalchemy.dialects.postgresql import JSONB


class MoneyType(Numeric[Decimal]):
    """Money and rates: NUMERIC(28, 6), read as Decimal. A named type because the migrations
    already applied (0001, 0006) build their columns with it."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(28, 6, asdecimal=True)


#: JSON documents.
Doc = JSONB
