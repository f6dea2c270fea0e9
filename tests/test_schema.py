"""The OpenAPI schema: valid, and true to what the API answers."""
import base64

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.advisories.services import model_register
from apps.core.actors import Actor
from apps.intake.flaggers import flagger_create
from apps.mirrors.services import mirror_create
from project.wsgi import application


def test_the_openapi_schema_validates(run_command, db):
    out, err = run_command("spectacular", "--validate", "--fail-on-warn")
    assert "openapi: 3" in out
    assert "/api/v1/mirror/acks" in out


# ---------------------------------------------------------------- the API against its own schema

EXAMPLES = 40


@pytest.fixture
def api_schema(db):
    # As Django's test client does: the requests run inside the test's transaction, so the end of a request
    # must not close the database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def credentials(release, django_user_model):
    _, flagger_token = flagger_create(name="IWF", kind="hotline", actor=Actor(label="cli:tester"))
    mirror = mirror_create(name="lab-copy", datasets=[release.dataset], actor=Actor.system())
    model = model_register(name="clip", trained_on=[release], actor=Actor.system())
    django_user_model.objects.create_user("fuzz", password="fuzz", is_staff=True, is_superuser=True)
    return {
        "/api/v1/flagger/": f"Bearer {flagger_token}",
        "/api/v1/mirror/": f"Bearer {mirror.token}",
        "/api/v1/models/": f"Bearer {model.token}",
        "/api/v1/match/": "Basic " + base64.b64encode(b"fuzz:fuzz").decode(),
    }


_CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
           response_schema_conformance]


def _fuzz(operation, mode: GenerationMode, headers: dict) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=headers, checks=_CHECKS)

    check()


@pytest.mark.slow
def test_the_api_answers_as_its_schema_says(api_schema, credentials):
    """Every operation, with valid and invalid input that schemathesis makes from /api/schema/: no 5xx,
    and every status code, content type and body is one the schema documents."""
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        auth = next((value for prefix, value in credentials.items() if operation.path.startswith(prefix)), "")
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, {"Authorization": auth} if auth else {})
            except Unsatisfiable:  # nothing to make invalid: the operation takes no input
                continue
            except Exception as exc:  # noqa: BLE001 - every operation is tried, then all failures are shown
                found = getattr(exc, "exceptions", [exc])
                failures += [f"{operation.method.upper()} {operation.path} ({mode.value}): {str(e)[:800]}"
                             for e in found]
    assert not failures, "\n\n".join(failures)
