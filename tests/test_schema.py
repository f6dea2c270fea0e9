def test_the_openapi_schema_validates(run_command, db):
    out, err = run_command("spectacular", "--validate", "--fail-on-warn")
    assert "openapi: 3" in out
    assert "/api/v1/mirror/acks" in out
