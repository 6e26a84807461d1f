"""``components/`` as a Pulumi plugin package: its manifest, entry point and
requirements, the plugin served as the Python language host runs it, and the Python
package (``pip install``) unchanged by it."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc
from table_exporter.provider import COMPONENTS, PACKAGE_NAME, VERSION

from tests.plugin_schema import schema

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "components"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(path: Path) -> dict[str, Requirement]:
    lines = path.read_text(encoding="utf-8").splitlines()
    found = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(r.name): r for r in found}


def test_the_plugin_manifest_names_the_python_runtime_beside_its_entry_point() -> None:
    manifest = yaml.safe_load((PLUGIN / "PulumiPlugin.yaml").read_text(encoding="utf-8"))
    assert manifest == {"runtime": "python"}
    assert (PLUGIN / "__main__.py").is_file()
    # The repository's root is a Pulumi program whose __main__.py is the stack: it cannot
    # be the plugin too (a plugin's entry point is the __main__.py beside its manifest).
    assert not (ROOT / "PulumiPlugin.yaml").exists()
    assert (ROOT / "Pulumi.yaml").is_file()


def test_the_plugin_serves_both_components_under_the_package_name_and_version() -> None:
    assert [c.__name__ for c in COMPONENTS] == ["TableExporter", "TableImporter"]
    package = schema()
    assert (package["name"], package["version"]) == (PACKAGE_NAME, VERSION)
    assert PYPROJECT["project"]["version"] == VERSION
    assert PYPROJECT["project"]["name"] == PACKAGE_NAME


def test_the_plugin_requires_what_the_package_depends_on() -> None:
    plugin = _requirements(PLUGIN / "requirements.txt")
    declared = {
        canonicalize_name(r.name): r for r in map(Requirement, PYPROJECT["project"]["dependencies"])
    }
    assert set(plugin) == set(declared)
    locked = {
        canonicalize_name(name): Version(version)
        for name, version in (
            line.split("==", 1)[0:2]
            for line in (ROOT / "locks" / "dev.txt").read_text(encoding="utf-8").splitlines()
            if "==" in line and not line.startswith((" ", "#"))
        )
        for version in [version.split()[0]]
    }
    for name, requirement in plugin.items():
        # The tested versions fit both ranges; the plugin's floors are at least the package's.
        assert requirement.specifier.contains(locked[name]), name
        assert declared[name].specifier.contains(locked[name]), name
        floor = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        declared_floor = [Version(s.version) for s in declared[name].specifier if s.operator == ">="]
        assert floor and declared_floor and floor[0] >= declared_floor[0], name


@pytest.fixture
def plugin_process(tmp_path: Path) -> Iterator[int]:
    """The plugin run as the Python language host runs it: ``python components
    <engine address>`` from the consuming program's folder; yields the port it serves."""
    process = subprocess.Popen(
        [sys.executable, str(PLUGIN), "127.0.0.1:1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip().isdigit(), (line, process.stderr.read() if process.poll() else "")
        yield int(line)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_entry_point_serves_the_schema_over_grpc(plugin_process: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{plugin_process}") as channel:
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=30)
        served = stub.GetSchema(provider_pb2.GetSchemaRequest(), timeout=30)
    assert info.version == VERSION
    assert json.loads(served.schema) == schema()


def test_pip_install_still_installs_only_the_python_package(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
            "--no-build-isolation", "--wheel-dir", str(tmp_path), str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("table_exporter-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "table_exporter/provider.py" in names and "table_exporter/exporter.py" in names and "table_exporter/kernel/asl.py" in names
    assert all(
        name.startswith(("table_exporter/", "table_exporter-")) for name in names
    ), [n for n in names if not n.startswith("table_exporter")]
