"""The domain: aggregates, rules, the one pricing function and the command handlers. No I/O."""
