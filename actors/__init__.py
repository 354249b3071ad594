"""The edge: Dramatiq actors, the outbox relay, the CLI and the one bootstrap that wires them."""
