"""docs/configuration.md is generated from the settings table; the committed file must match it.

Regenerate after changing the table: ``OTELSVC_REGENERATE_DOCS=1 pytest tests/test_config_docs.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

from otelsvc._config_docs import render_configuration
from otelsvc._config_table import ROWS

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_committed_configuration_doc_is_the_generated_one() -> None:
    text = render_configuration()
    if os.environ.get("OTELSVC_REGENERATE_DOCS") == "1":
        DOC.write_text(text)
    assert DOC.read_text() == text, "docs/configuration.md is stale: OTELSVC_REGENERATE_DOCS=1 pytest " + __file__


def test_every_keyword_and_variable_is_documented() -> None:
    text = render_configuration()
    for setting in ROWS:
        if setting.keyword:
            assert f"`{setting.name}`" in text
        for variable in setting.variables:
            assert f"`{variable.replace('{SIGNAL}', '{METRICS,TRACES,LOGS}')}`" in text


def test_readme_links_to_the_configuration_doc() -> None:
    readme = (DOC.parent.parent / "README.md").read_text()
    assert "docs/configuration.md" in readme
