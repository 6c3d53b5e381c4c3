"""Connectors: one sub-package per national system."""
