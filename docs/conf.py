"""Sphinx configuration of the Liên thông documentation (``make docs``)."""

from __future__ import annotations

import hub

project = "Liên thông"
author = "The Liên thông engineers"
copyright = "The Liên thông engineers"
version = release = hub.__version__

# No intersphinx: the build must work without a network, as `make test` does. So
# `nitpicky` stays off: the type hints name pydantic, httpx and standard-library types
# that have no target here.
extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings become link targets (`page.md#heading`), as on the repository's pages.
myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# Our docstrings are Google style; reST single backticks name Python objects.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
default_role = "py:obj"

autodoc_member_order = "bysource"
# Types go beside the parameters a docstring describes, not into long signatures.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    # pydantic's own attributes of every model, with pydantic's docstrings.
    "exclude-members": "model_config, model_fields, model_computed_fields",
}

html_theme = "alabaster"
html_title = "Liên thông"
