"""The client installs on its own with pip into a fresh virtualenv, and runs without Django."""

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

from mirror_client import __version__

CLIENT = Path(__file__).resolve().parents[2] / "mirror_client"


def test_its_version_is_the_packaged_one():
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    assert project["version"] == __version__
    assert project["dependencies"] == ["pyarrow>=14", "cryptography>=41"]


def test_it_installs_into_a_fresh_virtualenv_with_its_console_script(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    # The dependencies come from this interpreter's site-packages (only the build backend, setuptools,
    # comes from the package index); a .pth file appends them after the venv's own, so the client
    # itself can only come from the install.
    site = Path(subprocess.check_output([bin_dir / "python", "-c", "import sysconfig; "
                                         "print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "HOME": str(tmp_path)}
    source = tmp_path / "src" / "mirror_client"  # a copy: the build leaves its folders beside the sources
    shutil.copytree(CLIENT, source, ignore=shutil.ignore_patterns("__pycache__"))

    install = subprocess.run([bin_dir / "python", "-m", "pip", "install", "--no-deps", "-q", str(source)],
                             capture_output=True, text=True, cwd=tmp_path, env={**os.environ, **clean_env},
                             timeout=180)
    assert install.returncode == 0, install.stderr

    helped = subprocess.run([bin_dir / "takedown-mirror", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, env=clean_env, timeout=60)
    assert helped.returncode == 0, helped.stderr
    assert "{sync,receive,verify}" in helped.stdout
    version = subprocess.run([bin_dir / "python", "-m", "mirror_client", "--version"], capture_output=True,
                             text=True, cwd=tmp_path, env=clean_env, timeout=60)
    assert version.stdout.strip() == f"takedown-mirror {__version__}"
    where = subprocess.run(
        [bin_dir / "python", "-c", "import sys, mirror_client.cli, mirror_client.receiver, mirror_client.audit; "
         "print(mirror_client.cli.__file__); print('django' in sys.modules)"],
        capture_output=True, text=True, cwd=tmp_path, env=clean_env, timeout=60)
    path, django_loaded = where.stdout.split()
    assert path.startswith(str(env_dir)) and django_loaded == "False"


def test_python_dash_m_works_from_the_repository_root():
    proc = subprocess.run([sys.executable, "-m", "mirror_client", "--help"], capture_output=True, text=True,
                          cwd=CLIENT.parent, timeout=60)
    assert proc.returncode == 0 and "takedown-mirror" in proc.stdout
