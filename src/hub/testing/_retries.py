from __future__ import annotations

import contextlib
from collections.abc import Iterator

from hub import _resilience


@contextlib.contextmanager
def no_retries() -> Iterator[None]:
    """Within this block every call gets a single attempt (deadlines still apply).

    Blocks nest: leaving one restores what held before it, so that a helper using it
    inside a test's own block does not turn retries back on for the rest of the test.
    """
    were_disabled = _resilience.retries_disabled(True)
    try:
        yield
    finally:
        _resilience.retries_disabled(were_disabled)
