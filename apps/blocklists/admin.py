from django.contrib import admin
from django.db.models import Count, Q

from apps.blocklists.models import BlocklistVersion, DecoyKey, DecoyPool
from apps.blocklists.services import decoy_pool_configure
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ServiceAdmin


@admin.register(BlocklistVersion)
class BlocklistVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "blocked_keys", "decoys", "added", "removed_keys", "shard_count", "refresh",
                    "created_at", "expires_at", "applied_by"]
    list_filter = ["release", "refresh"]
    fields = ["release", "version", "created_at", "expires_at", "blocked_keys", "decoys", "shard_count",
              "delta_base_version", "added", "removed_keys", "refresh", "content_sha256", "manifest_sha256",
              "previous_manifest_sha256", "key_id", "path", "requests"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("release__dataset").annotate(
            applied_n=Count("acknowledgements", filter=Q(acknowledgements__status="applied"))
        )

    @admin.display(description="mirrors applied", ordering="applied_n")
    def applied_by(self, obj):
        return obj.applied_n

    # Counts leave decoys out (they are no removals); staff see how many the files also hold.
    @admin.display(description="blocked keys", ordering="key_count")
    def blocked_keys(self, obj):
        return obj.key_count

    @admin.display(description="decoys", ordering="decoy_count")
    def decoys(self, obj):
        return f"{obj.decoy_count} decoys" if obj.decoy_count else "-"

    @admin.display(description="keys added", ordering="added_keys")
    def added(self, obj):
        return obj.added_keys - obj.decoys_added


@admin.register(DecoyPool)
class DecoyPoolAdmin(ServiceAdmin):
    """The padding ratio is set here; keys are loaded with `manage.py load_decoys`."""

    list_display = ["release", "padding_ratio", "pool_size", "drawn", "updated_at"]
    fields = ["release", "padding_ratio", "pool_size", "drawn", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["pool_size", "drawn", "created_at", "updated_at"]
        return fixed + ["release"] if obj is not None else fixed

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("release__dataset").annotate(
            keys_n=Count("keys"), drawn_n=Count("keys", filter=Q(keys__drawn_in__isnull=False)))

    def has_module_permission(self, request):
        return roles.has_role(request.user, roles.ADMIN)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)

    def has_add_permission(self, request):
        return roles.has_role(request.user, roles.ADMIN)

    def has_change_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)

    def has_delete_permission(self, request, obj=None):
        return False  # drawn decoys stay blocked for good

    @admin.display(description="keys in the pool", ordering="keys_n")
    def pool_size(self, obj):
        return getattr(obj, "keys_n", None) if obj.pk else 0

    @admin.display(description="drawn into versions", ordering="drawn_n")
    def drawn(self, obj):
        return getattr(obj, "drawn_n", None) if obj.pk else 0

    def create(self, request, form):
        return decoy_pool_configure(release=form.cleaned_data["release"],
                                    padding_ratio=form.cleaned_data["padding_ratio"],
                                    actor=Actor.for_user(request.user))

    def update(self, request, obj, form):
        return decoy_pool_configure(release=obj.release, padding_ratio=form.cleaned_data["padding_ratio"],
                                    actor=Actor.for_user(request.user))


@admin.register(DecoyKey)
class DecoyKeyAdmin(ReadOnlyAdmin):
    """Which keys are decoys is what tells them from csam and ncii keys: restricted staff only."""

    list_display = ["key", "pool", "shard", "drawn_in", "added_at"]
    list_select_related = ["pool__release__dataset", "shard", "drawn_in__release__dataset"]
    list_filter = ["pool", ("drawn_in", admin.EmptyFieldListFilter)]
    search_fields = ["=key"]
    fields = ["pool", "shard", "key", "drawn_in", "added_at"]
    readonly_fields = fields

    def has_module_permission(self, request):
        return roles.has_role(request.user, roles.RESTRICTED)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.RESTRICTED)
