"""The leak check itself finds what it is meant to find."""

import logging

from hub._logging import redacting
from hub.testing import LeakCheck


def test_a_national_id_in_a_text_is_found_and_not_repeated():
    """A body quoting a 12-digit number is a finding; the report masks the number."""
    check = LeakCheck()
    check.add('{"detail": "no citizen 037090001234"}')
    (finding,) = check.findings()
    assert "037090001234" not in finding


def test_a_value_of_a_call_is_found_wherever_it_appears():
    """A name the hub marked sensitive, then seen in a collected text, is a finding."""
    check = LeakCheck()
    check.install()
    try:
        with redacting({"full_name": "Đỗ Thị Mai Anh"}):
            pass
        check.add("a body naming Đỗ Thị Mai Anh")
    finally:
        check.uninstall()
    assert len(check.findings()) == 1


def test_redacted_log_lines_are_clean():
    """What the hub logs through its redactor leaves nothing to find."""
    check = LeakCheck()
    check.install()
    try:
        with redacting({"national_id": "037090001234", "full_name": "Đỗ Thị Mai Anh"}):
            logging.getLogger("hub.test").warning("looked up 037090001234, Đỗ Thị Mai Anh")
    finally:
        check.uninstall()
    assert check.texts
    assert check.findings() == []
