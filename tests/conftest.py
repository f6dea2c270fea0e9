"""Shared fixtures: synthetic releases on disk, named actors, mirrors."""
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.core.management import call_command

from apps.core.actors import Actor
from apps.datasets import synthetic
from apps.datasets.services import release_import

# Real services are mandatory where CI provides them: a test that needs one fails instead of skipping.
REQUIRE_SERVICES = os.environ.get("TAKEDOWN_REQUIRE_SERVICES", "").lower() in ("1", "true", "yes")


@dataclass
class ReleaseOnDisk:
    path: Path
    data: synthetic.SyntheticRelease


@pytest.fixture(scope="session")
def release_on_disk(tmp_path_factory) -> ReleaseOnDisk:
    """Three img2dataset shards of 20 samples, with tars, dead links and a repeated image."""
    path = tmp_path_factory.mktemp("release") / "shards"
    data = synthetic.write_release(path, shards=3, samples_per_shard=20, seed=7, hash_columns=("sha256", "md5"))
    return ReleaseOnDisk(path=path, data=data)


@pytest.fixture
def release_copy(release_on_disk, tmp_path) -> Path:
    """A private copy of the shards, for tests that rewrite them (a mirror's copy)."""
    target = tmp_path / "mirror-copy"
    shutil.copytree(release_on_disk.path, target)
    return target


@pytest.fixture(autouse=True)
def _isolated_files(settings, tmp_path):
    """Each test its own release indexes, blocklist files and audit checkpoints (tests run in parallel)."""
    # Tests make many users: a deliberately slow password hash would cost seconds each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.INDEX_DIR = tmp_path / "index"
    # The audit key and checkpoints: a test's checkpoints describe its own database's trail only.
    settings.AUDIT_DIR = tmp_path / "audit"
    settings.ADVISORY_SUBSETS_DIR = tmp_path / "advisory-subsets"
    settings.STORAGES = {
        **settings.STORAGES,
        "blocklists": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "blocklists"},
        },
    }


@pytest.fixture(autouse=True)
def _force_login_passes_two_factor(monkeypatch):
    """`client.force_login(staff)` stands for a finished login, second factor included (STAFF_2FA_REQUIRED):
    the session is marked verified with an authenticator device made for the user. Tests of the login and
    two-factor pages themselves go through the real login view (tests/accounts)."""
    from django.test import Client

    from tests.support.accounts import mark_verified

    force_login = Client.force_login

    def verified_login(self, user, backend=None):
        force_login(self, user, backend)
        if user.is_staff:
            mark_verified(self, user)

    monkeypatch.setattr(Client, "force_login", verified_login)


@pytest.fixture
def operator() -> Actor:
    return Actor(label="cli:tester")


@pytest.fixture
def release(db, release_on_disk, operator):
    """The synthetic release imported as demo/2026-11 (and what a worker does on release.ready, done)."""
    from tests.support.removals import ready

    imported = release_import(dataset="demo", release="2026-11", path=release_on_disk.path, actor=operator).release
    ready(imported)
    return imported


@pytest.fixture
def indexing_release(db, release_on_disk, run_command):
    """The synthetic release queued as demo/2026-12 with `import_release --background` and not indexed yet (no
    worker here): tests.support.events.run_pending() does what the workers would, and it becomes ready."""
    from apps.datasets.models import Release

    run_command("import_release", "demo", "2026-12", str(release_on_disk.path), "--background")
    release = Release.objects.select_related("dataset").get(dataset__name="demo", name="2026-12")
    assert release.status == Release.Status.INDEXING
    return release


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("reviewer", password="correct horse battery", is_staff=True,
                                                 is_superuser=True)


@pytest.fixture
def run_command():
    """Run a management command; returns (stdout, stderr)."""
    import io

    def run(*args, **kwargs):
        out, err = io.StringIO(), io.StringIO()
        call_command(*args, stdout=out, stderr=err, **kwargs)
        return out.getvalue(), err.getvalue()

    return run


@pytest.fixture
def celery_queue(settings):
    """A queue name no other test uses, so a worker started by this test sees only its own tasks."""
    from project.celery import app

    name = f"test-{uuid.uuid4().hex[:12]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = name
    yield name
    app.conf.task_default_queue = previous


@pytest.fixture
def receiver():
    """A webhook receiver on loopback; outgoing webhooks may call private addresses meanwhile."""
    from tests.support.receiver import start_receiver

    receiver = start_receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def allow_loopback_webhooks(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True


# Browser tests: Debian's Chromium (Playwright cannot download its own browser here).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail("Chromium is required here (apt-get install chromium)")
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture
def eager_tasks():
    """Queued tasks run at once in this process: for tests of what a service queues, not of the worker."""
    from project.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def start_worker(celery_queue, tmp_path):
    """Start named `celery worker` processes on this test's database, folders and queue; stopped at the end."""
    from tests.support.workers import Workers

    workers = Workers(celery_queue, tmp_path)
    yield workers.start
    workers.stop_all()


@pytest.fixture
def staff_with(django_user_model):
    """A staff user holding the given roles (groups made by the roles migration)."""
    from django.contrib.auth.models import Group

    from apps.core.roles import ROLES
    from tests.support.accounts import roles_restore

    if Group.objects.filter(name__in=ROLES).count() < len(ROLES):
        roles_restore()

    def make(name: str, *roles: str):
        user = django_user_model.objects.create_user(name, password="correct horse battery", is_staff=True,
                                                     email=f"{name}@host.example")
        user.groups.set(Group.objects.filter(name__in=roles))
        return user

    return make


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto) on 127.0.0.1, port picked by the system; stopped afterwards."""
    import fsspec
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        fsspec.AbstractFileSystem.clear_instance_cache()  # no client kept for a server that is gone
        server.stop()
