"""The History page of every admin object reads the audit trail (templates/admin/object_history.html).

A template tag rather than a `history_view` in the shared admin base classes: apps.core, where those live, sits
below the audit trail and may not import it, and the tag serves every registered admin (Django's user and group
pages too) with no hook to register.
"""
from django import template

from apps.audit.selectors import History, audit_history

register = template.Library()


@register.simple_tag(takes_context=True)
def audit_history_of(context, obj) -> History:
    return audit_history(obj=obj, user=context["request"].user)
