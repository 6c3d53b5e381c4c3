"""gunicorn settings for the portal: close each worker's hub as the worker exits."""

from __future__ import annotations

from typing import Any


def worker_exit(server: Any, worker: Any) -> None:
    """Close the worker's hub while Python still runs its threads: the trail signs its last
    entries (a graceful stop) or at least commits them."""
    import portal

    portal.close_hub()
