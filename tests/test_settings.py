"""A bad setting stops start-up with a message naming the variable, before anything runs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name, value, message", [
    ("EMAIL_BACKEND", "foo.Bar", "EMAIL_BACKEND='foo.Bar' is not an importable email backend class"),
    ("CACHE_URL", "memcached://x", "CACHE_URL='memcached://x' must be a redis:// URL"),
    ("TRUSTED_PROXIES", "-1", "TRUSTED_PROXIES='-1' must be at least 0"),
    ("INTAKE_REPORTS_PER_HOUR", "many", "INTAKE_REPORTS_PER_HOUR='many' is not an integer"),
    ("DOMAIN_PROOF_URL", "https://example.org/proof.txt", "must contain {domain}"),
])
def test_a_bad_setting_is_named_at_start_up(tmp_path, name, value, message):
    env = {**os.environ, "DATA_DIR": str(tmp_path), name: value}
    env.pop("DATABASE_URL", None)
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
