"""The documentation stays true to the code.

Keys, defaults and the validation example are read from the code at test time, so a
setting or argument added, removed or given another default fails here until
``docs/`` says so too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pydantic_core import PydanticUndefined
from table_exporter import args as component_args
from table_exporter.drill.machine import drill_alarm_specs
from table_exporter.export.alarms import alarm_specs
from table_exporter.history import spec as history
from table_exporter.history.pipe_watch import pipe_watch_alarm_specs

from emulator.pulumi_mocks import RecordingMocks
from program.settings import DevSettings, ExporterSettings, PrdSettings, TableSetting
from program.stack_config import SettingsError, parse_settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, *sorted(DOCS.glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"``.+?``|`[^`\n]+`", re.S)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _prose(text: str) -> str:
    """The text without code blocks or inline code, where links are not links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> Iterator[str]:
    for match in LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        yield match.group(1) or match.group(2)


def test_the_docs_pages_exist() -> None:
    assert DOCS.is_dir()
    assert len(PAGES) > 1


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.name}")
    assert not broken, broken


def test_the_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300, len(lines)
    opening = "\n".join(lines[:40])
    assert "make demo" in opening
    assert "make test" in opening


def test_the_readme_has_one_diagram_and_it_is_the_architecture_pages() -> None:
    def diagrams(page: Path) -> list[str]:
        return re.findall(r"^```mermaid\n(.*?)^```", page.read_text(encoding="utf-8"), re.M | re.S)

    readme = diagrams(README)
    assert len(readme) == 1
    assert readme[0] in diagrams(DOCS / "architecture.md")


def test_every_test_the_docs_name_exists() -> None:
    tests = ROOT / "tests"
    defined = {
        name
        for source in tests.rglob("test_*.py")
        for name in re.findall(r"^(?:async )?def (test_\w+)", source.read_text(), re.M)
    }
    modules = {source.stem for source in tests.rglob("test_*.py")}
    named = {
        name
        for page in PAGES
        for name in re.findall(r"\b(test_\w+)\b(?!\.py)", page.read_text(encoding="utf-8"))
    }
    missing = sorted(named - defined - modules)
    assert not missing, missing


def test_every_alarms_runbook_link_names_a_section_of_the_operations_guide() -> None:
    specs = [
        *alarm_specs(staleness_hours=26, schedule_enabled=True, incremental=True),
        *(alarm.spec for alarm in history.alarm_specs(history.HistorySettings())),
        *drill_alarm_specs(),
        *pipe_watch_alarm_specs(),
    ]
    assert specs
    for spec in specs:
        path, _, anchor = spec.runbook.partition("#")
        assert (ROOT / path).is_file(), spec.runbook
        assert anchor in _anchors(ROOT / path), spec.runbook


# -- tables of keys ----------------------------------------------------------------


def _table_rows(page: Path) -> dict[str, list[str]]:
    """Markdown table rows keyed by their first cell's code text, e.g. ``exporter:prefix``."""
    rows: dict[str, list[str]] = {}
    for line in FENCE.sub("", page.read_text(encoding="utf-8")).splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in CELL_SPLIT.split(line.strip())[1:-1]]
        key = re.fullmatch(r"`([^`]+)`", cells[0]) if cells else None
        if key:
            rows.setdefault(key.group(1), cells)
    return rows


def _config_default(info: Any) -> str:
    """A setting's default as the settings reference writes it (stack config values)."""
    if info.default_factory is not None:
        value = info.default_factory()
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list | tuple):
        return "`[]`" if not value else f"`{value!r}`"
    return f"`{value}`"


def _settings_keys() -> dict[str, tuple[str, str]]:
    keys: dict[str, tuple[str, str]] = {}
    for name in ExporterSettings.model_fields:
        dev, prd = DevSettings.model_fields[name], PrdSettings.model_fields[name]
        alias = dev.alias or name
        keys[f"exporter:{alias}"] = (_config_default(dev), _config_default(prd))
    for name, info in TableSetting.model_fields.items():
        default = _config_default(info)
        keys[f"exporter:tables[].{info.alias or name}"] = (default, default)
    return keys


def test_every_setting_is_in_the_settings_reference_with_its_dev_and_prd_defaults() -> None:
    rows = _table_rows(DOCS / "settings.md")
    problems = []
    for key, (dev, prd) in _settings_keys().items():
        row = rows.get(key)
        if row is None:
            problems.append(f"{key}: missing")
            continue
        for stack, expected, cell in (("dev", dev, row[2]), ("prd", prd, row[3])):
            if not cell.startswith(expected):
                problems.append(f"{key}: {stack} default is {expected}, the docs say {cell}")
    assert not problems, problems


def test_the_settings_reference_lists_no_setting_that_does_not_exist() -> None:
    documented = {key for key in _table_rows(DOCS / "settings.md") if key.startswith("exporter:")}
    assert not documented - set(_settings_keys())


def _code_default(value: Any) -> str:
    """A component default as the component reference writes it (Python values)."""
    if isinstance(value, str):
        return f"`{value}`"
    return f"`{value!r}`"


def test_every_component_argument_is_in_the_component_reference_with_its_default() -> None:
    rows = _table_rows(DOCS / "component.md")
    hints = component_args.TableExporterArgs.__annotations__
    problems = []
    for key in hints:
        row = rows.get(key)
        if row is None:
            problems.append(f"{key}: missing")
            continue
        cell = row[2]
        if key in component_args.DEFAULTS:
            expected = _code_default(component_args.DEFAULTS[key])
            if not cell.startswith(expected):
                problems.append(f"{key}: default is {expected}, the docs say {cell}")
        elif not cell.startswith(("required", "none")):
            problems.append(f"{key}: has no default in DEFAULTS, the docs say {cell}")
    for key in component_args.TableArgs.__annotations__:
        if key not in rows:
            problems.append(f"tables[].{key}: missing")
    assert not problems, problems


# -- examples ------------------------------------------------------------------------


def _code_blocks_after(page: Path, heading: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    section = text[text.index(heading) :]
    following = re.search(r"^## ", section[len(heading) :], re.M)
    if following:
        section = section[: len(heading) + following.start()]
    return re.findall(r"^```[a-z]*\n(.*?)^```", section, re.M | re.S)


def test_the_validation_example_is_what_the_program_reports() -> None:
    config, report = _code_blocks_after(DOCS / "settings.md", "## Validation")[:2]
    raw = dict(line.split(None, 1) for line in config.strip().splitlines())
    with pytest.raises(SettingsError) as caught:
        parse_settings("prd", raw)
    assert str(caught.value) == report.strip()


@pulumi.runtime.test
def test_the_readme_program_builds_under_mocks() -> Any:
    (program,) = [
        block
        for block in _code_blocks_after(README, "## Using the component")
        if "TableExporter(" in block
    ]
    pulumi.runtime.set_mocks(RecordingMocks(), preview=False)
    namespace: dict[str, Any] = {}
    exec(compile(program, "README.md", "exec"), namespace)
    exporter = namespace["exporter"]

    def check(values: list[Any]) -> None:
        assert all(values), values

    return pulumi.Output.all(exporter.run_state_machine_arn, exporter.bucket_name).apply(check)


def test_every_output_and_exposed_resource_of_the_component_is_in_its_reference() -> None:
    from table_exporter import TableExporter

    text = (DOCS / "component.md").read_text(encoding="utf-8")
    section = text[text.index("## Outputs and resources") :]
    documented = set(re.findall(r"`(\w+)`", section))
    attributes = {name for name in TableExporter.__annotations__ if not name.startswith("_")}

    assert attributes, "no annotated attributes found"
    assert not sorted(attributes - documented), sorted(attributes - documented)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {Path(target).name for target in _links(README)}

    assert not sorted(page.name for page in DOCS.glob("*.md") if page.name not in linked)
