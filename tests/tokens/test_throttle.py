"""Guessing API tokens: wrong bearer tokens from one address are answered 429 after TOKEN_AUTH_FAILURES,
while the right token keeps working from other addresses (and the right path counts nothing)."""
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.intake.flaggers import flagger_create
from apps.mirrors.services import mirror_create

pytestmark = pytest.mark.django_db

FLAGGER_URL, MIRROR_URL = "/api/v1/flagger/requests?reference=x", "/api/v1/mirror/me"


@pytest.fixture(autouse=True)
def _fresh_counts(settings):
    settings.TOKEN_AUTH_FAILURES, settings.TOKEN_AUTH_WINDOW_SECONDS = 5, 600
    cache.clear()
    yield
    cache.clear()


def _get(url: str, token: str, ip: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(url, REMOTE_ADDR=ip)


def test_wrong_tokens_are_refused_with_429_after_the_limit(operator):
    _, token = flagger_create(name="Hotline", kind="hotline", actor=operator)
    statuses = [_get(FLAGGER_URL, f"td_flagger_guess{i}", "203.0.113.7").status_code for i in range(5)]
    assert statuses == [401] * 5

    throttled = _get(FLAGGER_URL, "td_flagger_guess6", "203.0.113.7")
    assert throttled.status_code == 429
    assert 0 < int(throttled["Retry-After"]) <= 600
    assert "too many failed token logins" in throttled.json()["detail"]
    # The right token from that address too: a right guess would otherwise stand out.
    assert _get(FLAGGER_URL, token, "203.0.113.7").status_code == 429
    # The right token from another address works.
    assert _get(FLAGGER_URL, token, "198.51.100.1").status_code == 200


def test_one_limit_covers_every_token_kind(operator, release):
    mirror_token = mirror_create(name="m", datasets=[release.dataset], actor=operator).token
    for i in range(3):
        assert _get(FLAGGER_URL, f"td_flagger_guess{i}", "203.0.113.7").status_code == 401
    for i in range(2):
        assert _get(MIRROR_URL, f"td_mirror_guess{i}", "203.0.113.7").status_code == 401
    assert _get(MIRROR_URL, mirror_token, "203.0.113.7").status_code == 429
    assert _get(MIRROR_URL, mirror_token, "198.51.100.1").status_code == 200


def test_right_tokens_count_nothing(operator):
    _, token = flagger_create(name="Hotline", kind="hotline", actor=operator)
    for _ in range(20):
        assert _get(FLAGGER_URL, token, "203.0.113.7").status_code == 200
    assert _get(FLAGGER_URL, "td_flagger_guess", "203.0.113.7").status_code == 401


def test_behind_a_proxy_the_client_address_is_counted(operator, settings):
    settings.TRUSTED_PROXIES = 1
    _, token = flagger_create(name="Hotline", kind="hotline", actor=operator)
    client = APIClient()
    for i in range(5):
        client.credentials(HTTP_AUTHORIZATION=f"Bearer td_flagger_guess{i}")
        assert client.get(FLAGGER_URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(FLAGGER_URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert client.get(FLAGGER_URL, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
