"""Who runs this host (settings OPERATOR_*), for the header and footer of every public page."""
from django.conf import settings


def operator(request) -> dict:
    contact = settings.OPERATOR_CONTACT
    contact_href = contact if contact.startswith(("https://", "http://")) else (f"mailto:{contact}" if contact else "")
    return {"operator": {
        "name": settings.OPERATOR_NAME,
        "url": settings.OPERATOR_URL,
        "contact": contact,
        "contact_href": contact_href,
    }}
