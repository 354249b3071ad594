"""Billing accounts."""
