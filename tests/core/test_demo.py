"""The demo `./run` loads: what a newcomer sees first, and that its printed credentials work."""
import re

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.blocklists.models import BlocklistVersion
from apps.core.categories import Category
from apps.removals.models import Channel, RemovalRequest, Status
from tests.support.accounts import log_in

pytestmark = pytest.mark.django_db


def _credentials(out: str) -> dict[str, str]:
    return {
        "password": re.search(r"Staff login:\s+staff / (\S+)", out).group(1),
        "backup_codes": re.search(r"Staff 2FA:\s+backup codes ((?:\S+ )+)\(", out).group(1).split(),
        "mirror": re.search(r"Mirror token: (td_mirror_\S+)", out).group(1),
        "flagger": re.search(r"Flagger token \(Demo hotline\): (td_flagger_\S+)", out).group(1),
    }


def test_the_demo_loads_a_release_requests_of_several_channels_and_working_credentials(run_command, client):
    out, _ = run_command("demo")

    assert "Takedown demo is ready." in out
    for page in ("/admin/", "/report/", "/transparency/", "/api/schema/"):
        assert page in out
    creds = _credentials(out)
    # The staff login and one of its printed backup codes pass the real login page, second factor included.
    assert log_in(client, "staff", creds["password"], creds["backup_codes"][0]).status_code == 302
    assert client.get("/admin/").status_code == 200
    requests = {r.category: r for r in RemovalRequest.objects.all()}
    assert set(requests) == {Category.CSAM, Category.COPYRIGHT, Category.PRIVACY}
    assert requests[Category.CSAM].status == Status.PUBLISHED and requests[Category.CSAM].hotline_report.report_id
    assert requests[Category.COPYRIGHT].dmca_notice.missing() == []
    assert requests[Category.PRIVACY].channel == Channel.WEB_FORM and requests[Category.PRIVACY].status == "received"
    assert BlocklistVersion.objects.count() == 1

    mirror = APIClient()
    mirror.credentials(HTTP_AUTHORIZATION=f"Bearer {creds['mirror']}")
    assert mirror.get("/api/v1/mirror/me").status_code == 200
    flagger = APIClient()
    flagger.credentials(HTTP_AUTHORIZATION=f"Bearer {creds['flagger']}")
    assert flagger.get("/api/v1/flagger/requests?reference=none").json() == []
    assert client.get("/transparency/").status_code == 200


def test_running_the_demo_again_keeps_its_data_and_issues_new_credentials(run_command, client):
    first = _credentials(run_command("demo")[0])
    second = _credentials(run_command("demo")[0])

    assert RemovalRequest.objects.count() == 3 and BlocklistVersion.objects.count() == 1
    assert first["mirror"] != second["mirror"] and first["flagger"] != second["flagger"]
    old = APIClient()
    old.credentials(HTTP_AUTHORIZATION=f"Bearer {first['flagger']}")
    assert old.get("/api/v1/flagger/requests?reference=x").status_code == 401
    assert log_in(client, "staff", second["password"], second["backup_codes"][0]).status_code == 302
    assert log_in(Client(), "staff", second["password"], first["backup_codes"][1]).status_code == 200  # refused
