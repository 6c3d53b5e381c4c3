"""The configuration reference, ``docs/configuration.md``, generated from `HubSettings`.

    python -m hub._config_docs docs/configuration.md    # write the page
    python -m hub._config_docs                          # print it

Every table and key of `HubSettings`, and the keys each bundled connector's
``Settings`` adds to its ``[sources.NAME]`` table, with type, default and description.
A key's description is its ``description=``, else the ``#:`` comment above it, else
its entry in its class's ``Args:`` section. A key with none is an error, so that no
setting is added without saying what it does. The page is checked in, so that it
reads on the repository's pages as well as in the built documentation, and
tests/unit/test_docs.py holds it equal to this output.

It lives in the package rather than under docs/ so that the test imports it like any
module, and so that it reads the very models the installed hub validates against.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import socket
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo

from hub._config import HubSettings, SourceSettings
from hub._registry import installed_connectors

__all__ = ["REGENERATE", "render"]

#: The command that rewrites the checked-in page.
REGENERATE = ".venv/bin/python -m hub._config_docs docs/configuration.md"

# Defaults made by a factory that is not a plain container, in words: the value the
# factory would give on the machine that renders the page means nothing elsewhere.
_FACTORY_DEFAULTS: dict[Callable[[], Any], str] = {socket.gethostname: "the host name"}

# The placeholder for the names of a table of tables, by the key that holds them, and
# what the names are.
_PLACEHOLDERS = {"sources": ("SOURCE", "`SOURCE` is the name of a source.")}
_PLACEHOLDER = ("NAME", "`NAME` is a name of your choosing.")

_SCALARS: dict[Any, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    Path: "path",
    SecretStr: "secret",
}

_INTRO = """\
# Configuration

<!-- Generated from hub._config.HubSettings and the bundled connectors' Settings by
     {regenerate}
     Edit those (their descriptions and #: comments), then regenerate; not this file. -->

A hub (the library, the `hub` command or the sidecar) reads one TOML file: the one
named by `--config`, `Hub.from_config(path)` or `load_settings(path)`; else the one
named by the environment variable `HUB_CONFIG`; else `hub.toml` in the working
directory, when there is one. Without a file, the embedded default applies: no
sources, and the audit trail in SQLite under `./var` with development keys, made there
on first use (a warning says so). A relative `data_dir` is taken from the file's
folder.

Environment variables override the file. A key's variable is `HUB_`, then the path of
its table and the key, joined by double underscores and written in capitals:
`HUB_AUDIT__NODE=hue-1`, `HUB_SOURCES__POPULATION__URL=https://...`,
`HUB_CLIENTS__PORTAL__RATE=50`. Lists and tables are given as JSON
(`HUB_CLIENTS__PORTAL__ROLES='["inspector"]'`). Names of your choosing (sources,
clients, witnesses) are read from the environment in lower case, and a name with a
hyphen cannot be written in most shells' variables: keep such tables in the file.

A key of type *secret* holds a password, a key or a token. Write it as `env:NAME` (the
value of that environment variable) or `file:PATH` (the content of that file, without
surrounding white space); a value written inline is taken as it is, which is for
trials only. A secret never shows in a representation, a log line or an error
message. The secrets of a `[sources.NAME]` table are read when the hub opens that
source, so that a command that never opens it (`hub audit verify`) does not need them.

A file with an unknown key, a value of the wrong type or out of its range, or a
missing required key is refused as a whole: when it is loaded, or, for a source's
table, when the hub opens the source. `ConfigError` (the `hub` command exits with
status 2) names each setting at fault and never echoes its value.

```toml
[sources.population]
url = "https://dancu.example.gov.vn/dancu"   # the SOAP endpoint
agency_code = "000.00.00.H37"
deadline = 10.0          # the whole call, retries included
attempt_timeout = 4.0
[sources.population.retry]
attempts = 4
[sources.population.tls]
client_cert = "/etc/lienthong/population.crt"   # mutual TLS
client_key = "/etc/lienthong/population.key"

[audit]
store = "env:HUB_AUDIT_DSN"           # postgresql://... : the DSN holds a password
signing_key = "file:/etc/lienthong/keys/audit-signing.pem"

[clients.portal-ninhbinh]
key_sha256 = "..."                    # hub keys client portal-ninhbinh
[clients.portal-ninhbinh.sources.population]
operations = ["lookup", "verify"]
```

`examples/hub.toml` is a complete file, pointing a hub at the bundled mocks. The
tables follow, in the order of the file's model. A default of *unset* means that the
key may be left out and then holds no value (a description calls that None).
"""


@dataclass(frozen=True)
class _Table:
    """One table of the file, and the keys it lists."""

    path: tuple[str, ...]
    intro: str
    keys: dict[str, FieldInfo]
    model: type[BaseModel] | None = None
    #: For a table whose keys are chosen by the user: the type of each value.
    values: Any = None

    @property
    def heading(self) -> str:
        return f"`[{'.'.join(self.path)}]`" if self.path else "The top level"

    @property
    def variable(self) -> str:
        names = [f"<{part}>" if part.isupper() else part.upper() for part in self.path]
        return "HUB_" + "__".join([*names, "<KEY>"])


def render() -> str:
    """The whole page, as checked in at docs/configuration.md."""
    parts = [_INTRO.replace("{regenerate}", REGENERATE)]
    first = None
    for table in _tables():
        # A section per top-level key; the tables within it are its subsections.
        parts.append(_render_table(table, level=2 if table.path[:1] != first else 3))
        first = table.path[:1]
    return "\n".join(parts)


def _tables() -> Iterator[_Table]:
    top = {name: field for name, field in HubSettings.model_fields.items() if not _is_table(field)}
    yield _Table((), "The keys written before any table.", top, HubSettings)
    for name, field in HubSettings.model_fields.items():
        if name == "sources":
            yield from _source_tables(field)
        elif name not in top:
            yield from _nested(HubSettings, (name,), name, field)


def _nested(
    owner: type[BaseModel], path: tuple[str, ...], name: str, field: FieldInfo
) -> Iterator[_Table]:
    """The table a key of ``owner`` holds, and the tables within it."""
    described = _description(owner, name, field, required=False)
    model = _table_model(field.annotation)
    if model is not None:
        yield from _model_tables(path, model, _join(described, _summary(model)))
        return
    model = _value_table(field.annotation)
    if model is not None:
        placeholder, meaning = _PLACEHOLDERS.get(name, _PLACEHOLDER)
        intro = _join(described, _summary(model), meaning)
        yield from _model_tables((*path, placeholder), model, intro)
        return
    values = get_args(field.annotation)[1]
    yield _Table(path, described, {}, values=values)


def _model_tables(path: tuple[str, ...], model: type[BaseModel], intro: str) -> Iterator[_Table]:
    keys = {name: field for name, field in model.model_fields.items() if not _is_table(field)}
    yield _Table(path, intro.strip(), keys, model)
    for name, field in model.model_fields.items():
        if _is_table(field):
            yield from _nested(model, (*path, name), name, field)


def _source_tables(field: FieldInfo) -> Iterator[_Table]:
    """``[sources.NAME]``: the keys every source takes, then each bundled connector's."""
    # Written here: the model's own comments speak of how it validates, not of the file.
    intro = (
        "One table per source, named by the source: `[sources.population]`. A source that"
        " is not installed is refused when the hub starts. Every source takes the keys"
        " below; each connector adds its own, listed after them for the bundled ones."
    )
    yield from _model_tables(("sources", "NAME"), SourceSettings, intro)
    common = SourceSettings.model_fields
    # Only the connectors shipped here: the page must not depend on what else happens
    # to be installed, and a connector from another package documents its own keys.
    bundled = {
        name: connector
        for name, connector in installed_connectors().items()
        if connector.__module__.startswith("hub.connectors.")
    }
    for name, connector in bundled.items():
        settings = connector.Settings
        # Its own keys, and any common key it describes anew (vneid's url is an issuer).
        own = _comments(settings) | _args(settings)
        keys = {
            key: value
            for key, value in settings.model_fields.items()
            if key not in common or key in own
        }
        every = "[every source](#sourcesname)"
        intro = (
            f"{connector.title}: its keys beyond those of {every}."
            if keys
            else f"{connector.title}: no keys beyond those of {every}."
        )
        yield _Table(("sources", name), intro, keys, settings)


def _join(*texts: str) -> str:
    return " ".join(text for text in texts if text)


def _render_table(table: _Table, *, level: int) -> str:
    lines = [f"{'#' * level} {table.heading}", "", table.intro, ""]
    if table.values is not None:
        lines += [f"Keys of your choosing; each value is a {_type(table.values)}.", ""]
    lines += [f"Environment: `{table.variable}`.", ""]
    if table.keys:
        assert table.model is not None
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in table.keys.items():
            cells = (
                f"`{name}`",
                _field_type(field),
                _default(field),
                _description(table.model, name, field),
            )
            lines.append("| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _is_table(field: FieldInfo) -> bool:
    """Whether a key holds a table (of keys, of tables or of values) rather than a value."""
    return _table_model(field.annotation) is not None or get_origin(field.annotation) is dict


def _table_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a key that holds one table."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _value_table(annotation: Any) -> type[BaseModel] | None:
    """The model of each table of a key that holds a table of tables."""
    if get_origin(annotation) is not dict:
        return None
    return _table_model(get_args(annotation)[1])


def _field_type(field: FieldInfo) -> str:
    return _with_constraints(_type(field.annotation), field.metadata)


def _type(annotation: Any) -> str:
    """A type in words: ``integer, at least 1``, ``"json" or "console"``, ``list of strings``."""
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *metadata = get_args(annotation)
        return _with_constraints(_type(base), metadata)
    if origin in (Union, UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        return " or ".join(_type(member) for member in members)
    if origin is Literal:
        return " or ".join(f"`{json.dumps(value)}`" for value in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation)
        if get_origin(item) is Literal:
            return f"list, each {_type(item)}"
        return f"list of {_type(item)}s"
    if origin is dict:
        return f"table of {_type(get_args(annotation)[1])}s"
    if annotation is Any:
        return "value"
    if annotation in _SCALARS:
        return _SCALARS[annotation]
    raise TypeError(f"no words for the type {annotation!r}: add them to hub._config_docs")


def _with_constraints(kind: str, metadata: list[Any]) -> str:
    """``kind`` with its bounds, lengths and pattern in words."""
    bounds: dict[str, Any] = {}
    words: list[str] = []
    # A Field(...) inside Annotated (a member of a union) carries its constraints itself.
    flat = [
        constraint
        for item in metadata
        for constraint in (item.metadata if isinstance(item, FieldInfo) else [item])
    ]
    for item in flat:
        if isinstance(item, BeforeValidator | AfterValidator):
            continue
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            bounds["low"] = item
        elif isinstance(item, annotated_types.Le | annotated_types.Lt):
            bounds["high"] = item
        elif isinstance(item, annotated_types.MinLen | annotated_types.MaxLen):
            bounds["min_length" if isinstance(item, annotated_types.MinLen) else "max_length"] = (
                item
            )
        elif getattr(item, "pattern", None) is not None:
            words.append(f"matching `{item.pattern}`")
        else:
            raise TypeError(f"no words for the constraint {item!r}: add them to hub._config_docs")
    low, high = bounds.get("low"), bounds.get("high")
    if isinstance(low, annotated_types.Ge) and isinstance(high, annotated_types.Le):
        words.insert(0, f"from {low.ge} to {high.le}")
    else:
        if isinstance(low, annotated_types.Ge):
            words.insert(0, f"at least {low.ge}")
        elif isinstance(low, annotated_types.Gt):
            words.insert(0, f"above {low.gt}")
        if isinstance(high, annotated_types.Le):
            words.append(f"at most {high.le}")
        elif isinstance(high, annotated_types.Lt):
            words.append(f"below {high.lt}")
    shortest, longest = bounds.get("min_length"), bounds.get("max_length")
    least = shortest.min_length if shortest is not None else 0
    if longest is not None:
        words.append(f"{least} to {longest.max_length} characters")
    elif least:
        words.append("not empty" if least == 1 else f"at least {least} characters")
    return ", ".join([kind, *words])


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    factory = field.default_factory
    if factory is not None and factory not in (list, dict):
        if factory not in _FACTORY_DEFAULTS:
            raise TypeError(
                f"no words for the default of {factory!r}: add them to hub._config_docs"
            )
        return _FACTORY_DEFAULTS[factory]
    value = field.get_default(call_default_factory=True)
    return "unset" if value is None else f"`{_toml(value)}`"


def _toml(value: Any) -> str:
    """A default as it would be written in the file."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value), ensure_ascii=False)
    if value == [] or value == {}:
        return "[]" if isinstance(value, list) else "{}"
    raise TypeError(f"no TOML form for the default {value!r}: add it to hub._config_docs")


def _description(
    model: type[BaseModel], name: str, field: FieldInfo, *, required: bool = True
) -> str:
    """What a key is for, as its model says it; a key that does not say is an error.

    The most derived class that says wins: a connector may describe a common key anew.
    """
    text = field.description
    for cls in _models(model):
        text = text or _comments(cls).get(name) or _args(cls).get(name)
    if not text and required:
        raise ValueError(
            f"{model.__name__}.{name} has no description: give it a #: comment or description="
        )
    return " ".join((text or "").split())


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """``model`` and the models it extends, most derived first; pydantic's own left out."""
    return [
        cls
        for cls in model.__mro__
        if issubclass(cls, BaseModel) and not cls.__module__.startswith("pydantic")
    ]


@cache
def _comments(cls: type[BaseModel]) -> dict[str, str]:
    """The ``#:`` comments above the fields the class itself declares."""
    lines, _ = inspect.getsourcelines(cls)
    tree = ast.parse(textwrap.dedent("".join(lines)))
    body = tree.body[0]
    assert isinstance(body, ast.ClassDef)
    found: dict[str, str] = {}
    for node in body.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        above: list[str] = []
        index = node.lineno - 2  # the line above the field's first, counted from 0
        while index >= 0 and lines[index].strip().startswith("#:"):
            above.insert(0, lines[index].strip().removeprefix("#:").strip())
            index -= 1
        if above:
            found[node.target.id] = " ".join(above)
    return found


@cache
def _args(cls: type[BaseModel]) -> dict[str, str]:
    """The entries of the ``Args:`` section of the class's own docstring."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    found: dict[str, str] = {}
    current: str | None = None
    within = False
    for line in doc.splitlines():
        if line.strip() == "Args:":
            within = True
        elif within and line and not line.startswith(" "):
            break
        elif within and (entry := re.fullmatch(r" {4}(\w+): (.*)", line)):
            current = entry[1]
            found[current] = entry[2]
        elif within and current is not None and line.strip():
            found[current] += " " + line.strip()
    return found


def _summary(model: type[BaseModel]) -> str:
    """The class's own docstring up to its first section (``Args:`` ...), as one paragraph."""
    doc = inspect.cleandoc(model.__dict__.get("__doc__") or "")
    text = re.split(r"^\w+:$", doc, maxsplit=1, flags=re.MULTILINE)[0]
    return " ".join(text.split())


def main(argv: list[str]) -> int:
    page = render()
    if not argv:
        sys.stdout.write(page)
        return 0
    # Rendered whole before the file is opened: a failure leaves the page as it was.
    Path(argv[0]).write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
