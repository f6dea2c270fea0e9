"""Blocklist files on S3-compatible object storage (moto's server on loopback), served through a CDN URL."""
import hashlib
import json
import uuid

import boto3
import httpx
import pytest
from rest_framework.test import APIClient

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.mirrors.services import mirror_create
from tests.blocklists.support import manage, refused_at_start_up
from tests.support.removals import approve_and_publish

BASE = "/api/v1/mirror/blocklists/demo/2026-11"


def _configured(tmp_path, **env) -> dict:
    """STORAGES["blocklists"] and BLOCKLISTS_PUBLIC_URL as start-up makes them from these variables."""
    code = ("import json; from django.conf import settings; print(json.dumps({'storage': "
            "settings.STORAGES['blocklists'], 'public_url': settings.BLOCKLISTS_PUBLIC_URL}, default=str))")
    result = manage(tmp_path, "shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def bucket(s3_endpoint, settings, tmp_path, monkeypatch):
    """A fresh bucket, configured from the environment the way a host would, as the blocklists storage."""
    name = f"bl-{uuid.uuid4().hex[:12]}"
    for variable, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(variable, value)
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    configured = _configured(tmp_path, BLOCKLISTS_S3_BUCKET=name, BLOCKLISTS_S3_ENDPOINT_URL=s3_endpoint,
                             BLOCKLISTS_S3_PREFIX="/published/blocklists/")
    assert configured["storage"] == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": name, "endpoint_url": s3_endpoint, "location": "published/blocklists",
                    "region_name": None, "file_overwrite": True, "default_acl": None},
    }
    assert configured["public_url"] == ""
    settings.STORAGES = {**settings.STORAGES, "blocklists": configured["storage"]}
    return name


@pytest.fixture
def client(release):
    mirror = mirror_create(name="lab-copy", datasets=[release.dataset], actor=Actor.system())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {mirror.token}")
    return api


def _publish(operator, samples):
    return approve_and_publish(operator, [s.key for s in samples])[1]


def _files(manifest) -> dict[str, str]:
    files = {e["file"]: e["sha256"] for e in manifest["shards"]}
    for entry in (manifest["delta"] or {"shards": []})["shards"]:
        for side in ("added", "removed"):
            if entry[f"{side}_file"]:
                files[entry[f"{side}_file"]] = entry[f"{side}_sha256"]
    return files


def test_versions_are_published_to_the_bucket_and_read_back_through_the_api(
        bucket, s3_endpoint, client, release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    _publish(operator, [samples[0]])
    [v2] = _publish(operator, [samples[1], samples[45]])
    objects = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket)["Contents"]
    stored = {o["Key"] for o in objects}
    assert "published/blocklists/demo/2026-11/v000002/manifest.json" in stored

    response = client.get(f"{BASE}/2/manifest.json")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == v2.manifest_sha256
    assert response["Cache-Control"] == "private, max-age=31536000, immutable"
    manifest = json.loads(response.content)
    assert manifest["delta"]["added_keys"] == 2
    assert client.get(f"{BASE}/2/manifest.json.sig").content.strip()
    files = _files(manifest)
    assert any(name.endswith(".added.parquet") for name in files)
    for name, digest in files.items():
        assert f"published/blocklists/demo/2026-11/v000002/{name}" in stored
        data = client.get(f"{BASE}/2/files/{name}").content
        assert hashlib.sha256(data).hexdigest() == digest
    assert client.get(f"{BASE}/2/files/99999.parquet").status_code == 404


def test_with_a_public_url_the_api_redirects_to_the_cdn_copy(
        bucket, s3_endpoint, client, release, release_on_disk, operator, settings):
    samples = release_on_disk.data.successful()
    _publish(operator, [samples[0]])
    [v2] = _publish(operator, [samples[20]])
    # The host makes the prefix publicly readable (or lets only its CDN read it), as docs/publishing.md says.
    boto3.client("s3", endpoint_url=s3_endpoint).put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/published/blocklists/*"}],
    }))
    settings.BLOCKLISTS_PUBLIC_URL = f"{s3_endpoint}/{bucket}/published/blocklists"
    manifest = client.get(f"{BASE}/2/manifest.json")
    assert manifest.status_code == 302
    assert manifest["Location"] == f"{settings.BLOCKLISTS_PUBLIC_URL}/demo/2026-11/v000002/manifest.json"
    assert "public" not in manifest["Cache-Control"]
    manifest_bytes = httpx.get(manifest["Location"]).content
    assert hashlib.sha256(manifest_bytes).hexdigest() == v2.manifest_sha256
    signature = client.get(f"{BASE}/2/manifest.json.sig")
    assert signature.status_code == 302 and httpx.get(signature["Location"]).content.strip()
    for name, digest in _files(json.loads(manifest_bytes)).items():
        response = client.get(f"{BASE}/2/files/{name}")
        assert response.status_code == 302
        assert hashlib.sha256(httpx.get(response["Location"]).content).hexdigest() == digest
    # Still only for subscribed mirrors, and only files the manifest lists.
    assert APIClient().get(f"{BASE}/2/manifest.json").status_code == 401
    assert client.get(f"{BASE}/2/files/secret.parquet").status_code == 404


def test_local_files_are_served_privately_and_the_versions_list_counts_what_the_files_hold(
        client, release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    _publish(operator, [samples[0]])
    BlocklistVersion.objects.update(decoy_count=2)  # as if padded: mirrors see every key the files hold
    response = client.get(f"{BASE}/1/manifest.json")
    assert response.status_code == 200 and response["Cache-Control"] == "private, max-age=31536000, immutable"
    [listed] = client.get(f"{BASE}/").json()
    assert listed["key_count"] == BlocklistVersion.objects.get().key_count + 2


@pytest.mark.parametrize("env, message", [
    ({"BLOCKLISTS_S3_BUCKET": "Not_A_Bucket"}, "BLOCKLISTS_S3_BUCKET='Not_A_Bucket' is not a bucket name"),
    ({"BLOCKLISTS_S3_BUCKET": "bl", "BLOCKLISTS_S3_ENDPOINT_URL": "minio:9000"},
     "BLOCKLISTS_S3_ENDPOINT_URL='minio:9000' is not an http(s) URL"),
    ({"BLOCKLISTS_S3_PREFIX": "x"}, "BLOCKLISTS_S3_ENDPOINT_URL and BLOCKLISTS_S3_PREFIX need BLOCKLISTS_S3_BUCKET"),
    ({"BLOCKLISTS_S3_BUCKET": "blocklists", "BLOCKLISTS_DIR": "/srv/bl"},
     "BLOCKLISTS_DIR and BLOCKLISTS_S3_BUCKET are both set"),
    ({"BLOCKLISTS_PUBLIC_URL": "cdn.example.org"}, "BLOCKLISTS_PUBLIC_URL='cdn.example.org' is not an http(s) URL"),
])
def test_a_bad_storage_setting_is_named_at_start_up(tmp_path, env, message):
    refused_at_start_up(tmp_path, message, **env)


def test_without_a_bucket_files_stay_on_local_disk(tmp_path):
    configured = _configured(tmp_path, BLOCKLISTS_PUBLIC_URL="https://cdn.example.org/bl/")
    assert configured["storage"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert configured["public_url"] == "https://cdn.example.org/bl"
