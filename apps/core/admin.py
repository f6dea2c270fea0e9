"""Shared admin pieces."""
from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets

from apps.core.forms import CheckedModelForm


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written only by the product's services: staff can look, not edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ServiceAdmin(admin.ModelAdmin):
    """An admin whose every save goes through a service, which records it in the audit trail.

    The add page (its own form when `add_form`, `add_fields` are set) saves with
    `create(request, form)`; the change page saves with `update(request, obj,
    form)`. Each returns the saved object. An admin without `update` shows a
    read-only change page. Inlines never save: a relation that staff may change
    is a field of the form, changed by `update`. Nothing is deleted here
    (has_delete_permission).
    """

    form = CheckedModelForm
    add_form = None
    add_fields: list[str] = []
    update = None

    def create(self, request, form):
        raise NotImplementedError

    def get_form(self, request, obj=None, **kwargs):
        if obj is None and self.add_fields:
            kwargs.update(fields=self.add_fields, **({"form": self.add_form} if self.add_form else {}))
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None and self.add_fields:
            return [(None, {"fields": self.add_fields})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return [] if self.add_fields else super().get_readonly_fields(request, obj)
        if self.update is None:
            return [name for name in flatten_fieldsets(super().get_fieldsets(request, obj))]
        return super().get_readonly_fields(request, obj)

    def get_inlines(self, request, obj):
        return [] if obj is None else super().get_inlines(request, obj)

    def has_delete_permission(self, request, obj=None):
        """Never offered: a record the product keeps (or refers to) is retired by its domain's own action
        (revoke, reject, disable), through a service. An admin whose records may go says so itself, and deletes
        through a service."""
        return False

    def save_model(self, request, obj, form, change):
        saved = self.update(request, obj, form) if change else self.create(request, form)
        obj.pk = saved.pk
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if not k.startswith("_")})

    def save_related(self, request, form, formsets, change):
        """Nothing: the service saved the object's relations with it."""

    def construct_change_message(self, request, form, formsets, add=False):
        return super().construct_change_message(request, form, [], add)  # the inlines saved nothing
