"""The admin's user pages, with every change to who holds which role written to the audit trail."""
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.actors import Actor

User = get_user_model()
# What decides a user's access: their staff flags and their roles (groups).
_ACCESS_FLAGS = ("is_active", "is_staff", "is_superuser")


def _access(user) -> dict:
    if user is None or user.pk is None:
        return {}
    return {**{flag: getattr(user, flag) for flag in _ACCESS_FLAGS},
            "roles": sorted(user.groups.values_list("name", flat=True))}


class AuditedUserAdmin(UserAdmin):
    """Django's user admin; a change to a user's flags or roles is audited as `user.access_changed`."""

    def save_model(self, request, obj, form, change):
        # The user as stored before this save, for the event's `before`.
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        request._takedown_access_before = _access(stored)
        super().save_model(request, obj, form, change)

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user = form.instance
        before, after = getattr(request, "_takedown_access_before", {}), _access(user)
        if before != after:
            changed = {k for k in after if before.get(k) != after[k]}
            audit_record(actor=Actor.for_user(request.user), action="user.access_changed", obj=user,
                         before={k: before[k] for k in changed if k in before},
                         after={k: after[k] for k in changed})

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(actor=Actor.for_user(request.user), action="user.deleted", obj=obj, before=_access(obj))
            super().delete_model(request, obj)


    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for user in queryset:
                audit_record(actor=Actor.for_user(request.user), action="user.deleted", obj=user,
                             before=_access(user))
            super().delete_queryset(request, queryset)


def _permissions(group) -> list[str]:
    if group is None or group.pk is None:
        return []
    return sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type"))


class AuditedGroupAdmin(GroupAdmin):
    """Django's group (role) admin; a change to what a role may do is audited as `role.permissions_changed`."""

    def save_model(self, request, obj, form, change):
        request._takedown_permissions_before = _permissions(Group.objects.filter(pk=obj.pk).first() if change else None)
        super().save_model(request, obj, form, change)

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "_takedown_permissions_before", []), _permissions(form.instance)
        if before != after:
            audit_record(actor=Actor.for_user(request.user), action="role.permissions_changed", obj=form.instance,
                         before={"removed": sorted(set(before) - set(after))},
                         after={"added": sorted(set(after) - set(before))})


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)
