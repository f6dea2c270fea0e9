"""Postprocessing of the OpenAPI schema (drf-spectacular hooks, SPECTACULAR_SETTINGS)."""
from apps.core import validation


def document_uri_too_long(result, generator, request, public):
    """Every operation may answer 414: the edge refuses a URL over validation.MAX_URL_CHARS before any view."""
    response = {"description": f"The URL (path and query) is longer than {validation.MAX_URL_CHARS:,} characters.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"].setdefault("414", response)
    return result
