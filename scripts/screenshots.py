"""Take the README's screenshots of the staff console from the demo, in Chromium (Playwright).

    .venv/bin/python scripts/screenshots.py

It sets up a throwaway DATA_DIR on SQLite, migrates, loads the demo (the synthetic data `./run` shows), serves it on
a free port with PUBLIC_BASE_URL pointing there, logs in as the demo's staff user with its authenticator secret,
and saves each page of PAGES below as docs/screenshots/<name>.png at 1440x900. A page that answers 404 (not built
yet) is skipped with a warning. Only the demo's synthetic data is ever shown.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyotp
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORT = {"width": 1440, "height": 900}
WORKER_SETTLE_SECONDS = 20  # the worker's first heartbeat and the beat's first reconciler run (every 15 s)
# (file name, path; {placeholders} come from the demo's objects, see DEMO_IDS)
HEATMAP = "/admin/datasets/release/{release}/heatmap/"
PAGES = [
    ("overview", "/admin/"),
    ("queue", "/admin/removals/removalrequest/"),
    ("request", "/admin/removals/removalrequest/{published_request}/change/#background"),
    ("lookup", "/admin/lookup/?q={removed_url}"),
    ("mirror", "/admin/mirrors/mirror/{mirror}/change/"),
    ("heatmap", HEATMAP),
]
# Run in `manage.py shell`: the ids and values the placeholders above name, as JSON.
DEMO_IDS = """
import json
from urllib.parse import quote
from apps.datasets.models import Release
from apps.mirrors.models import Mirror
from apps.removals.models import RemovalRequest
published = RemovalRequest.objects.filter(status__in=["published", "completed"]).order_by("pk").first()
url = published.identifiers.filter(kind="url").values_list("value", flat=True).first()
print(json.dumps({"published_request": published.pk, "removed_url": quote(url, safe=""),
                  "mirror": Mirror.objects.get(name="demo-mirror").pk,
                  "release": Release.objects.get(dataset__name="demo", name="2026-11").pk}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    for _ in range(120):
        if server.poll() is not None:
            sys.exit("the server stopped before answering")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"no answer from {url}")


def main() -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="takedown-screenshots-") as data_dir:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(DATA_DIR=data_dir, PUBLIC_BASE_URL=base, PYTHONUNBUFFERED="1")
        _manage(env, "migrate", "--noinput", "-v", "0")
        demo = _manage(env, "demo")
        login = re.search(r"Staff login:\s+(\S+) / (\S+)", demo)
        secret = re.search(r"secret ([A-Z2-7]+)", demo)
        if not login or not secret:
            sys.exit(f"the demo did not print a staff login and secret:\n{demo}")
        ids = json.loads(_manage(env, "shell", "-c", DEMO_IDS).strip().splitlines()[-1])
        # A background worker as ./run starts one, so the pages show the product running (no "no worker" banner).
        worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "project", "worker", "--beat",
                                   "--concurrency", "1", "--schedule", f"{data_dir}/beat-schedule"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_until_up(f"{base}/admin/login/", server)
            time.sleep(WORKER_SETTLE_SECONDS)
            _shoot(base, login.group(1), login.group(2), secret.group(1), ids)
        finally:
            for process in (server, worker):
                process.terminate()
                process.wait(timeout=30)


def _shoot(base: str, username: str, password: str, secret: str, ids: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.fill("#id_otp_token", pyotp.TOTP(secret).now())
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        # The admin's model list folded away, as staff who know their way do: more room for the page itself.
        page.evaluate("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
        for name, path in PAGES:
            url = base + path.format(**ids)
            response = page.goto(url)
            # The admin sends an unknown path under an object to that object's page: not the page asked for.
            if response is None or response.status == 404 or page.url.split("?")[0] != url.split("?")[0]:
                print(f"warning: {name}: {path.format(**ids)} is not there (404, or the admin redirected it): "
                      "not taken", file=sys.stderr)
                continue
            if response.status >= 400:
                sys.exit(f"{name}: {path.format(**ids)} answered {response.status}")
            if "#" in path:  # start at that part of the page (the record's fields above it are plain text)
                anchor = path.split("#", 1)[1]
                page.evaluate("window.scrollBy(0, "
                              f"document.getElementById('{anchor}').getBoundingClientRect().top - 60)")
            page.screenshot(path=OUT / f"{name}.png")
            print(f"{OUT.relative_to(ROOT) / (name + '.png')}  {path.format(**ids)}")
        browser.close()


if __name__ == "__main__":
    main()
