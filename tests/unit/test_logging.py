"""Log lines never carry a national id, a name, a key or a token."""

import io
import json
import logging

import pytest

from hub._logging import configure_logging, get_logger, redacting, register_secret


@pytest.fixture
def lines():
    stream = io.StringIO()
    configure_logging(stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    configure_logging()


def test_sensitive_keys_are_redacted_whatever_their_value(lines):
    """national_id, full_name, token and friends never print their values."""
    log = get_logger("hub.test")
    log.info("event", national_id="037090001234", full_name="Lê Thị Hoa", id_token="abc", attempt=2)
    (line,) = lines()
    assert line["national_id"] == line["full_name"] == line["id_token"] == "[redacted]"
    assert line["attempt"] == 2


def test_identifiers_inside_free_text_are_redacted(lines):
    """A national id or enterprise code inside a message or URL is replaced."""
    log = get_logger("hub.test")
    log.warning("GET /enterprises/0100233488-001 for 037090001234", url="http://x/c/037090001234")
    text = json.dumps(lines())
    assert "0100233488" not in text
    assert "037090001234" not in text


def test_values_of_the_call_in_progress_are_redacted_even_as_prose(lines):
    """A name from the current call is scrubbed wherever a developer puts it."""
    log = get_logger("hub.test")
    with redacting({"full_name": "Phạm Minh Châu"}):
        log.info("found Phạm Minh Châu in the register")
    log.info("after the call")
    first, second = lines()
    assert "Phạm" not in first["event"]
    assert second["event"] == "after the call"


def test_jwts_bearer_tokens_and_registered_secrets_are_redacted(lines):
    """Tokens and configured secrets never reach a line."""
    register_secret("s3cr3t-client-password")
    log = get_logger("hub.test")
    log.info(
        "auth Bearer abc.def.ghi eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln s3cr3t-client-password"
    )
    text = json.dumps(lines())
    assert "abc.def" not in text
    assert "eyJhbGci" not in text
    assert "s3cr3t" not in text


def test_other_libraries_records_are_redacted_too(lines):
    """A stdlib logger (as httpx or zeep use) goes through the same redaction."""
    logging.getLogger("some.library").warning("POST /citizens/037090001234 failed")
    (line,) = lines()
    assert "037090001234" not in line["event"]


def test_exceptions_are_formatted_and_redacted(lines):
    """A traceback's message is scrubbed and carries no locals."""
    log = get_logger("hub.test")
    secret_local = "Nguyễn Thị Lan"  # noqa: F841 - a local that must not be printed
    try:
        raise RuntimeError("lookup of 037090001234 failed")
    except RuntimeError:
        log.exception("failure")
    (line,) = lines()
    assert "037090001234" not in line["exception"]
    assert "Nguyễn" not in line["exception"]


def test_reserved_record_attributes_do_not_break_logging(lines):
    """Keys that clash with LogRecord attributes (name, args) are renamed, not fatal."""
    get_logger("hub.test").info("event", module="x", args="y")
    (line,) = lines()
    assert line["module_"] == "x"
    assert line["args_"] == "y"
