"""billing accounts: a version, payment methods (tokens only), search indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 16:30:00.000000

The GIN trigram indexes (values containing the query) and the byte-order B-tree indexes
(exact matches and prefixes) are on the very expressions persistence/accounts.py searches
(`SEARCH_EXPRESSIONS`); a test EXPLAINs each search. On SQLite (the
embedded demo) there is no pg_trgm: the columns are added, the indexes are not.
Building the indexes takes a lock that blocks writes to billing_accounts and orders for
the build (about 20 s per million rows on the development machine); on a large live
database create them first with CREATE INDEX CONCURRENTLY under the same names.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DOC = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

#: index name -> (table, expression): what billing_account.search matches on PostgreSQL.
TRIGRAM_INDEXES = {
    "ix_billing_accounts_name_trgm": ("billing_accounts", "lower(name)"),
    "ix_billing_accounts_email_trgm": ("billing_accounts", "lower(email)"),
    "ix_billing_accounts_phone_trgm": (
        "billing_accounts",
        "regexp_replace(phone, '[^0-9]+', '', 'g')",
    ),
    "ix_billing_accounts_postal_code_trgm": (
        "billing_accounts",
        "regexp_replace(upper(billing_address ->> 'postal_code'), '[^0-9A-Z]+', '', 'g')",
    ),
    "ix_orders_id_trgm": ("orders", "lower(id)"),
}


#: index name -> (table, expression): the same expressions in byte order, for the exact and
#: prefix matches a trigram index answers slowly when a value's trigrams are common.
PREFIX_INDEXES = {
    name.replace("_trgm", "_prefix"): target for name, target in TRIGRAM_INDEXES.items()
}


def upgrade() -> None:
    op.add_column(
        "billing_accounts",
        sa.Column(
            "version",
            sa.Integer(),
            server_default=sa.text("1"),
            nullable=False,
            comment="one step per billing_account.update",
        ),
    )
    op.add_column(
        "billing_accounts",
        sa.Column(
            "payment_methods",
            _DOC,
            server_default=sa.text("'[]'"),
            nullable=False,
            comment="brand, last four, expiry and the payment service's token: never a card number",
        ),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, (table, expression) in TRIGRAM_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} USING gin (({expression}) gin_trgm_ops)")
    for name, (table, expression) in PREFIX_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {table} (({expression}) text_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name in [*TRIGRAM_INDEXES, *PREFIX_INDEXES]:
            op.execute(f"DROP INDEX IF EXISTS {name}")
    with op.batch_alter_table("billing_accounts") as batch:
        batch.drop_column("payment_methods")
        batch.drop_column("version")
