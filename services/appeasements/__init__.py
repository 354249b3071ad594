"""Appeasements: goodwill store credit and discounts, within limits or after approval."""
