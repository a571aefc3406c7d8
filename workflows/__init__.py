"""Temporal workflows. They import only `domain` and `activities.contracts`."""
