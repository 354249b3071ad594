"""The wire: CloudEvents envelopes and the pydantic models of every message OrderCare
consumes or publishes. Imports only pydantic and the standard library."""
