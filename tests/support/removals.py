"""Taking samples out in tests: a removal request naming sample keys, approved and published at once."""
from apps.removals.parsing import ParsedIdentifier
from apps.removals.services import request_approve, request_create, request_publish


def approve_and_publish(operator, keys, category: str = "copyright"):
    """(the request, refreshed; the blocklist versions its publication made)."""
    request = request_create(category=category, actor=operator, identifiers=[
        ParsedIdentifier(line=i, kind="key", value=key) for i, key in enumerate(keys, 2)])
    request_approve(request=request, actor=operator)
    versions = request_publish(request=request, actor=operator)
    request.refresh_from_db()
    return request, versions
