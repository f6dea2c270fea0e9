"""A bad setting stops start-up with a message naming the variable, before anything runs."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, value, message", [
    ("EMAIL_BACKEND", "foo.Bar", "EMAIL_BACKEND='foo.Bar' is not an importable email backend class"),
    ("CACHE_URL", "memcached://x", "CACHE_URL='memcached://x' must be a redis:// URL"),
    ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES='-1' must be at least 0"),
    ("INTAKE_REPORTS_PER_HOUR", "many", "INTAKE_REPORTS_PER_HOUR='many' is not an integer"),
    ("DOMAIN_PROOF_URL", "https://example.org/proof.txt", "must contain {domain}"),
    ("OPERATOR_URL", "example.org", "OPERATOR_URL='example.org' must be a web address starting with https://"),
    ("OPERATOR_CONTACT", "call us", "OPERATOR_CONTACT='call us' must be an email address or a web address"),
])
def test_a_bad_setting_is_named_at_start_up(tmp_path, name, value, message):
    env = {**os.environ, "DATA_DIR": str(tmp_path), name: value}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_processes_starting_together_on_a_new_data_dir_share_one_secret_key(tmp_path):
    """The first process is slow to make its key; the others start meanwhile. A key file that appeared before
    its content (the old way: create, then write) would be read empty by them, and they would fail."""
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "project.settings"}
    env.pop("SECRET_KEY", None)
    show = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"
    slow = ("import secrets, time; made = secrets.token_urlsafe; "
            "secrets.token_urlsafe = lambda n: (time.sleep(1.5), made(n))[1]; " + show)

    def start(code):
        return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    procs = [start(slow)]
    time.sleep(0.8)  # the slow one is inside its key's making
    procs += [start(show) for _ in range(7)]
    results = [p.communicate(timeout=60) for p in procs]

    assert [p.returncode for p in procs] == [0] * 8, [err[-300:] for _, err in results]
    keys = {out.strip() for out, _ in results}
    assert len(keys) == 1 and keys == {(tmp_path / "data" / "secret_key").read_text().strip()}
    assert len(keys.pop()) >= 50
    assert [f.name for f in (tmp_path / "data").iterdir() if f.name.startswith(".secret_key.")] == []
