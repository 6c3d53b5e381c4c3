from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hub import _resilience


@contextlib.contextmanager
def no_retries() -> Iterator[None]:
    """Within this block every call gets a single attempt (deadlines still apply)."""
    _resilience.retries_disabled(True)
    try:
        yield
    finally:
        _resilience.retries_disabled(False)
