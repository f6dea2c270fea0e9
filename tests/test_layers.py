"""The import-linter contracts (.importlinter) that ./test checks: they hold on the code, and they catch an import
up the layers or a cycle between modules, at module level or inside a function."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.workers import ROOT

LINT = str(Path(sys.executable).with_name("lint-imports"))


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache", "--no-logo"], cwd=tree, capture_output=True, text=True, timeout=300)


@pytest.fixture
def tree(tmp_path) -> Path:
    """A copy of the packages and the contracts, to break."""
    for name in ("apps", "project"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    return tmp_path


def test_the_code_keeps_every_contract(tree):
    result = _lint(tree)

    assert result.returncode == 0, result.stdout
    assert "3 kept, 0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_inside_a_function_is_refused(tree):
    with (tree / "apps" / "removals" / "services.py").open("a") as f:
        f.write("\n\ndef _publish_now():\n    from apps.blocklists.services import blocklist_publish\n"
                "    return blocklist_publish\n")

    result = _lint(tree)

    assert result.returncode == 1
    assert "Stages import only the layers below them BROKEN" in result.stdout
    assert "apps.removals.services -> apps.blocklists.services" in result.stdout


def test_a_cycle_between_the_modules_of_one_app_is_refused(tree):
    # apps.events.tasks imports apps.events.services; the other way round closes a loop.
    with (tree / "apps" / "events" / "services.py").open("a") as f:
        f.write("\n\ndef _task():\n    from apps.events import tasks\n    return tasks\n")

    result = _lint(tree)

    assert result.returncode == 1
    assert "No import cycle between the modules of a package BROKEN" in result.stdout
    assert "No cycles are allowed in apps.events." in result.stdout


def test_an_app_importing_the_project_is_refused(tree):
    with (tree / "apps" / "core" / "files.py").open("a") as f:
        f.write("\nfrom project import celery as _celery  # noqa: E402,F401\n")

    result = _lint(tree)

    assert result.returncode == 1
    assert "The apps never import the project" in result.stdout and "BROKEN" in result.stdout
