"""Every project command run on a database nobody migrated says so in one line, never a traceback."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
LINE = ("CommandError: The database is not set up (or not up to date): run `python manage.py migrate` "
        "(or `./run`, which does it) first, then this command again.")


def manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ("import_removals", "{csv}", "--category", "other"),
    ("mirror_status",),
])
def test_it_asks_for_migrate_before_a_command_on_a_fresh_data_dir(tmp_path, args):
    removals = tmp_path / "x.csv"
    removals.write_text("kind,value\nurl,https://x.example/a.jpg\n")

    result = manage(tmp_path / "data", *(a.format(csv=removals) for a in args))

    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [LINE]


def test_a_migrated_database_runs_the_command(tmp_path):
    assert manage(tmp_path, "migrate", "--noinput", "-v", "0").returncode == 0

    result = manage(tmp_path, "mirror_status")

    assert result.returncode == 0, result.stderr
    assert "not set up" not in result.stderr
