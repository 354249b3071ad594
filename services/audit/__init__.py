"""The audit trail: reading who changed what, when and why."""
