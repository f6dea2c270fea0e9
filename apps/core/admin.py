"""Shared admin pieces."""
from django.contrib import admin


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


class CreateThroughServiceAdmin(admin.ModelAdmin):
    """An admin whose add page has its own form and creates the object through a service.

    Subclasses set `add_form` and `add_fields` and implement `create(request, form)`
    returning the new object; the change page stays the plain ModelAdmin one.
    """

    add_form = None
    add_fields: list[str] = []

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs.update(form=self.add_form, fields=self.add_fields)
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": self.add_fields})] if obj is None else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else super().get_readonly_fields(request, obj)

    def get_inlines(self, request, obj):
        return [] if obj is None else super().get_inlines(request, obj)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = self.create(request, form)
        obj.pk = created.pk
        obj.__dict__.update({k: v for k, v in created.__dict__.items() if not k.startswith("_")})

    def save_related(self, request, form, formsets, change):
        if change:  # a new object's relations were made by its service
            super().save_related(request, form, formsets, change)


# Registered here so the admin's autodiscovery (after django.contrib.auth's) picks it up.
from apps.core import users_admin  # noqa: E402,F401
