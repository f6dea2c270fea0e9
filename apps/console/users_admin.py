"""The admin's user and role pages: every save is written to the audit trail (never a password or its hash)."""
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db import transaction

from apps.audit.services import audit_record
from apps.core import roles
from apps.core.actors import Actor

User = get_user_model()
# What decides a user's access: their staff flags and their roles (groups).
_ACCESS_FLAGS = ("is_active", "is_staff", "is_superuser")
# Who they are, as the user pages edit it.
_PROFILE = ("username", "first_name", "last_name", "email")


def _access(user) -> dict:
    if user is None or user.pk is None:
        return {}
    return {**{flag: getattr(user, flag) for flag in _ACCESS_FLAGS},
            "roles": sorted(user.groups.values_list("name", flat=True))}


def _profile(user) -> dict:
    return {} if user is None or user.pk is None else {name: getattr(user, name) for name in _PROFILE}


class AuditedUserAdmin(UserAdmin):
    """Django's user admin, every save audited: a change to a user's flags or roles as `user.access_changed`,
    to their name or address as `user.changed`, a new user as `user.created`, a new password as
    `user.password_set`."""

    def save_model(self, request, obj, form, change):
        # The user as stored before this save, for the events' `before`.
        stored = User.objects.filter(pk=obj.pk).first() if change else None
        request._takedown_before = (_access(stored), _profile(stored))
        super().save_model(request, obj, form, change)

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        user, actor = form.instance, Actor.for_user(request.user)
        (access, profile) = getattr(request, "_takedown_before", ({}, {}))
        if not change:
            audit_record(actor=actor, action="user.created", obj=user, after={**_profile(user), **_access(user)})
            return
        for action, before, after in (("user.access_changed", access, _access(user)),
                                      ("user.changed", profile, _profile(user))):
            changed = [k for k in after if before.get(k) != after[k]]
            if changed:
                audit_record(actor=actor, action=action, obj=user, after={k: after[k] for k in changed},
                             before={k: before[k] for k in changed if k in before})

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:  # the new password was saved
            audit_record(actor=Actor.for_user(request.user), action="user.password_set",
                         obj=User.objects.get(pk=id))
        return response

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
    """Django's group (role) admin; a change to what a role may do is audited as `role.permissions_changed`.

    A role's name is what the product checks (apps.core.roles), so it cannot be changed here.
    """

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        # A role is deleted nowhere (the product checks for it by name); another group from its own page only.
        return obj is not None and obj.name not in roles.ROLES and super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        with transaction.atomic():
            audit_record(actor=Actor.for_user(request.user), action="role.deleted", obj=obj,
                         before={"name": obj.name, "permissions": _permissions(obj)})
            super().delete_model(request, obj)

    def save_model(self, request, obj, form, change):
        request._takedown_permissions_before = _permissions(Group.objects.filter(pk=obj.pk).first() if change else None)
        super().save_model(request, obj, form, change)

    @transaction.atomic
    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "_takedown_permissions_before", []), _permissions(form.instance)
        if not change:
            audit_record(actor=Actor.for_user(request.user), action="role.created", obj=form.instance,
                         after={"name": form.instance.name, "permissions": after})
        elif before != after:
            audit_record(actor=Actor.for_user(request.user), action="role.permissions_changed", obj=form.instance,
                         before={"removed": sorted(set(before) - set(after))},
                         after={"added": sorted(set(after) - set(before))})


admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)
