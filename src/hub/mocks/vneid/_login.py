"""The provider's pages: the login page (pick a synthetic citizen and a level) and errors."""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Mapping, Sequence

from hub.mocks._world import Citizen

#: The authorization parameters the login form carries back, unchanged.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "acr_values",
)
_LEVEL_NAMES = {0: "không có tài khoản", 1: "mức 1", 2: "mức 2"}

_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head><meta charset="utf-8"><title>{title}</title></head>
<body>
<h1>{title}</h1>
{body}
</body>
</html>
"""


def login_page(
    params: Mapping[str, str], accounts: Sequence[tuple[Citizen, int]], level: int
) -> str:
    """The login form: hidden authorization parameters, a citizen and a level to choose.

    Args:
        params: The authorization request's parameters, carried in hidden fields.
        accounts: The synthetic citizens offered, with their account level.
        level: The level the client asked for, chosen by default.
    """
    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{html.escape(params[name])}">'
        for name in CARRIED
        if name in params
    )
    options = "\n".join(
        f'<option value="{citizen.national_id}">'
        f"{html.escape(unicodedata.normalize('NFC', citizen.full_name))} "
        f"({citizen.national_id}, {_LEVEL_NAMES[account]})</option>"
        for citizen, account in accounts
    )
    levels = "\n".join(
        f'<label><input type="radio" name="level" value="LoA{n}"'
        f"{' checked' if n == level else ''}> Định danh điện tử {_LEVEL_NAMES[n]}</label>"
        for n in (1, 2)
    )
    body = (
        '<form method="post" action="/authorize">\n'
        f"{hidden}\n"
        '<p><label>Công dân <select name="login_hint">\n'
        f"{options}\n</select></label></p>\n"
        f"<p>{levels}</p>\n"
        '<p><button type="submit">Đăng nhập</button></p>\n'
        "</form>"
    )
    return _PAGE.format(title="Đăng nhập bằng tài khoản định danh điện tử VNeID", body=body)


def error_page(message: str) -> str:
    """A page for an authorization request that cannot be sent back to the client."""
    body = f"<p>Yêu cầu không hợp lệ: {html.escape(message)}</p>"
    return _PAGE.format(title="VNeID: yêu cầu không hợp lệ", body=body)
