"""The documentation: the configuration page is current, and every page builds cleanly."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from hub import _config_docs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_the_configuration_page_is_what_the_settings_generate():
    """docs/configuration.md equals the generator's output for the settings as they are."""
    checked_in = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert checked_in == _config_docs.render(), (
        f"docs/configuration.md is out of date: regenerate it with `{_config_docs.REGENERATE}`"
    )


def test_the_configuration_page_lists_every_table_and_bundled_source():
    """Each table of HubSettings, and each bundled connector's own table, has a heading."""
    page = _config_docs.render()
    for heading in (
        "## The top level",
        "## `[sources.NAME]`",
        "### `[sources.NAME.tls]`",
        "### `[sources.population]`",
        "### `[sources.vneid]`",
        "## `[audit]`",
        "### `[audit.witnesses.NAME]`",
        "### `[clients.NAME.sources.SOURCE]`",
        "## `[sidecar]`",
        "## `[procedures]`",
    ):
        assert f"\n{heading}\n" in page, heading
    assert '| `workers` | integer, from 1 to 256 or `"auto"` | `1` |' in page
    # The default made by a factory is worded, not the host name of the machine rendering.
    assert (
        "| `node` | string, matching `^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$` | the host name |" in page
    )


class _Described(BaseModel):
    """A model described the three ways the settings are.

    Args:
        argued: From the Args section,
            over two lines.
    """

    #: From a comment,
    #: over two lines.
    commented: int = 1
    fielded: int = Field(default=2, description="From the field.")
    argued: int = 3
    silent: int = 4


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("commented", "From a comment, over two lines."),
        ("fielded", "From the field."),
        ("argued", "From the Args section, over two lines."),
    ],
)
def test_a_description_comes_from_a_comment_a_field_or_the_args(name, expected):
    """A #: comment, description= or the class's Args: entry describes a key."""
    field = _Described.model_fields[name]
    assert _config_docs._description(_Described, name, field) == expected


def test_a_setting_without_a_description_is_refused():
    """A key that says nothing of itself stops the generator, naming the key."""
    field = _Described.model_fields["silent"]
    with pytest.raises(ValueError, match=r"_Described\.silent has no description"):
        _config_docs._description(_Described, "silent", field)


def test_the_documentation_builds_without_a_warning(tmp_path):
    """`make docs`' build, with warnings as errors: broken links, references or docstrings fail."""
    # A process of its own: Sphinx registers roles and logging handlers globally.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "html" / "configuration.html").is_file()


def test_the_readme_links_to_files_that_exist():
    """Every relative link of the README reaches a file of the repository."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [
        target.split("#", 1)[0]
        for target in re.findall(r"\]\(([^)\s]+)\)", readme)
        if not target.startswith(("http://", "https://", "#"))
    ]
    assert targets, "the README links to no page"
    assert [target for target in targets if not (ROOT / target).is_file()] == []
