"""The trusted-flagger API at its limit: one request of 100,000 identifiers, as CSV and as JSON.

Each submission is timed end to end through Django's request handling (authentication,
parsing, validating every identifier, writing the request, its identifiers and its audit
event in one transaction), against the baseline of only validating the same body in the
same process (apps.core.api.bodies), so the ratio is what logging costs over reading.
Runs on SQLite in a fresh DATA_DIR, or on PostgreSQL with DATABASE_URL set.

Usage: python bench/flagger_intake.py [--identifiers 100000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--identifiers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="takedown-bench-flagger-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.test import APIClient

    from apps.core.actors import Actor
    from apps.core.api.bodies import identifiers_from_csv, identifiers_from_json
    from apps.intake.flaggers import flagger_create
    from apps.removals.models import RemovalRequest

    if connection.vendor == "postgresql":
        from django.test.utils import setup_databases
        setup_databases(verbosity=0, interactive=False)
    else:
        call_command("migrate", verbosity=0)
    _, token = flagger_create(name=f"bench-{time.time_ns()}", kind="research", actor=Actor(label="bench"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    n = args.identifiers
    rows = [("md5", f"{i:032x}") if i % 3 == 0 else ("sha256", f"{i:064x}") if i % 3 == 1
            else ("url", f"https://img{i % 97}.example.org/photos/{i}.jpg") for i in range(n)]
    csv_body = ("kind,value\n" + "".join(f"{k},{v}\n" for k, v in rows)).encode()
    json_body = {"category": "other", "reference": "", "identifiers": [{"kind": k, "value": v} for k, v in rows]}

    def best(fn) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    counter = iter(range(10**9))
    from django.db import transaction

    def post_csv():
        with transaction.atomic():  # on_commit (queueing the match) is not run: no broker is measured here
            response = client.post(f"/api/v1/flagger/requests?category=other&reference=csv-{next(counter)}",
                                   csv_body, content_type="text/csv")
            assert response.status_code == 201, response.content[:300]

    def post_json():
        with transaction.atomic():
            body = json.dumps({**json_body, "reference": f"json-{next(counter)}"})
            response = client.post("/api/v1/flagger/requests", body, content_type="application/json")
            assert response.status_code == 201, response.content[:300]

    results = {
        "csv_validate_only": best(lambda: identifiers_from_csv(csv_body, limit=n)),
        "csv_submit": best(post_csv),
        "json_validate_only": best(lambda: identifiers_from_json(json.loads(json.dumps(json_body["identifiers"])),
                                                                 limit=n)),
        "json_submit": best(post_json),
    }
    assert RemovalRequest.objects.count() == 2 * args.repeat
    print(f"{n:,} identifiers per request, best of {args.repeat}, database {connection.vendor}")
    print("| body | validate only (baseline) | submit (logged) | ratio |")
    print("|---|---|---|---|")
    for kind in ("csv", "json"):
        base, full = results[f"{kind}_validate_only"], results[f"{kind}_submit"]
        print(f"| {kind.upper()} ({len(csv_body if kind == 'csv' else json.dumps(json_body)) / 2**20:.1f} MiB) "
              f"| {base:.2f} s | {full:.2f} s | {full / base:.1f}x |")


if __name__ == "__main__":
    main()
