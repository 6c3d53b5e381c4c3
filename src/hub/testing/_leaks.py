from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from hub import _logging

__all__ = ["LeakCheck"]

# The same boundaries as the redactor: a run of 9+ digits that is not part of a word.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{9,}(?![0-9A-Za-z])")
# Shorter values (a sex, a status) are not personal data on their own.
_MIN_LENGTH = 6


class _Collector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(_logging.formatter("json"))
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.append(self.format(record))


class LeakCheck:
    """Find personal data in what the hub wrote: log lines, error bodies, any text.

    Every value the hub marked sensitive while the check was installed (the queries
    and records of every call) is looked for in every collected text, as are runs of
    nine or more digits (national ids, legacy cards, enterprise codes, licences)::

        leaks = LeakCheck()
        leaks.install()
        ...  # run look-ups, collect error bodies with leaks.add(text)
        assert leaks.findings() == []
    """

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.values: set[str] = set()
        self._handler = _Collector(self.texts)

    def install(self) -> None:
        """Collect every log line (rendered as in production) from now on."""
        root = logging.getLogger()
        root.addHandler(self._handler)
        if root.level > logging.DEBUG or root.level == logging.NOTSET:
            root.setLevel(logging.DEBUG)
        _logging._observers.append(self.values)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self._handler)
        # By identity: another check may hold an equal set.
        _logging._observers[:] = [o for o in _logging._observers if o is not self.values]

    def add(self, text: str) -> None:
        """Collect another text (an error body, a command's output) for the check."""
        self.texts.append(text)

    def add_values(self, values: Iterable[str]) -> None:
        """Look for these values too (names and ids a test used directly)."""
        self.values.update(value for value in values if len(value) >= _MIN_LENGTH)

    def findings(self) -> list[str]:
        """One line per leak: what kind of value, and where (never the value itself)."""
        values = [value for value in self.values if len(value) >= _MIN_LENGTH]
        found = []
        for index, text in enumerate(self.texts):
            if _LONG_NUMBER.search(text):
                found.append(f"text {index}: a run of 9+ digits: {_excerpt(text)}")
            for value in values:
                if value in text:
                    found.append(f"text {index}: a value of a call ({len(value)} chars)")
                    break
        return found


def _excerpt(text: str) -> str:
    """The text with its digit runs masked, so that a report does not leak either."""
    return _LONG_NUMBER.sub("#########", text)[:200]
