"""Production settings: `check --deploy` is clean with the environment the README documents, a bad value is
named at start-up, and every page carries the Content-Security-Policy."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _documented_production_env() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- production-env:start -->\n```\n(.*?)```\n<!-- production-env:end -->", readme, re.S)
    env = dict(line.split("=", 1) for line in block.group(1).splitlines() if line.strip())
    # Placeholders (<...>) stand for the host's own secrets.
    return {name: secrets.token_urlsafe(50) if value.startswith("<") else value for name, value in env.items()}


def _manage(tmp_path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    base = {name: value for name, value in os.environ.items() if name not in (
        "DATABASE_URL", "REDIS_URL", "CACHE_URL", "SECRET_KEY", "DEBUG", "HTTPS",
        "DJANGO_ALLOW_ASYNC_UNSAFE")}  # set for the browser tests (tests/conftest.py), never in production
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**base, "DATA_DIR": str(tmp_path), **env})


def test_check_deploy_is_clean_with_the_documented_production_settings(tmp_path):
    env = _documented_production_env()
    assert env["HTTPS"] == "true" and env["DEBUG"] == "false"
    result = _manage(tmp_path, env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_check_deploy_names_what_is_missing(tmp_path):
    env = {**_documented_production_env(), "HTTPS": "false"}
    result = _manage(tmp_path, env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stdout + result.stderr


@pytest.mark.parametrize("name, value, message", [
    ("HTTPS", "maybe", "HTTPS='maybe' is not a boolean"),
    ("SECURE_PROXY_SSL_HEADER", "X Forwarded", "SECURE_PROXY_SSL_HEADER='X Forwarded' is not a header name"),
    ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT='0' must be at least 1"),
    ("TOKEN_AUTH_FAILURES", "lots", "TOKEN_AUTH_FAILURES='lots' is not an integer"),
])
def test_a_bad_security_setting_is_named_at_start_up(tmp_path, name, value, message):
    result = _manage(tmp_path, {name: value}, "check")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr and "Traceback" not in result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("url, signed_in", [
    ("/admin/login/", False), ("/admin/", True), ("/admin/removals/removalrequest/add/", True),
    ("/account/two-factor/", True), ("/report/", False), ("/report/?category=copyright", False),
    ("/report/status/", False), ("/transparency/", False)])
def test_every_page_carries_the_content_security_policy(client, staff, url, signed_in):
    if signed_in:
        client.force_login(staff)
    response = client.get(url)
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    # An inline script runs only with this response's nonce.
    nonce = re.search(r"'nonce-([^']+)'", policy["script-src"])
    for script in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", response.content.decode()):
        assert nonce and f'nonce="{nonce.group(1)}"' in script, script
