"""Composition root: settings, Temporal client, worker process and the `reisplan` CLI."""
