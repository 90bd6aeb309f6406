"""The README stays true: its configuration table and commands match the code."""

import re
from pathlib import Path

from pydantic import SecretStr

from config.settings import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _configuration_rows() -> dict[str, str]:
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `([A-Z_]+)` \| ([^|]*) \|", section, flags=re.MULTILINE))


def test_readme_configuration_table_lists_every_setting():
    rows = _configuration_rows()
    assert set(rows) == {name.upper() for name in Settings.model_fields}


def test_readme_configuration_defaults_match_the_settings():
    rows = _configuration_rows()
    for name, field in Settings.model_fields.items():
        shown = rows[name.upper()].strip()
        default = field.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        if default in ("", None):
            assert shown == "*(empty)*", name
        elif isinstance(default, bool):
            assert shown == f"`{str(default).lower()}`", (name, shown, default)
        else:
            number = f"{default:g}" if isinstance(default, float) else str(default)
            assert shown == f"`{number}`", (name, shown, default)


def test_readme_shows_the_two_commands():
    assert "make run" in README
    assert "make test" in README
