"""Storage: SQLAlchemy 2 mappings, repositories, the unit of work, inbox and outbox, migrations."""
