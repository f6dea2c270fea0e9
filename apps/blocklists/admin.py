import hashlib

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from apps.blocklists.models import BlocklistVersion, DecoyKey, DecoyPool
from apps.blocklists.selectors import blocklist_version_file, blocklist_version_files, blocklist_version_sensitive
from apps.blocklists.services import decoy_pool_configure
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ServiceAdmin
from apps.core.errors import TakedownError

# How much of a file its view page shows.
VIEW_BYTES = 64 * 1024
HEX_BYTES = 1024
_CONTENT_TYPES = {"manifest": "application/json", "signature": "text/plain; charset=utf-8"}
_PARQUET = "application/vnd.apache.parquet"


def _hex(data: bytes) -> str:
    """A hex dump: offset, 16 bytes in hex, and those that are printable."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset:offset + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(lines)


def _text(data: bytes) -> str | None:
    """The bytes as text, or None when they are not UTF-8 text (binary)."""
    if b"\0" in data:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        # A cut in the middle of a character at the end of a truncated view is still text.
        return data[:exc.start].decode() if exc.start >= len(data) - 3 else None


class BlocklistVersionAdmin(ReadOnlyAdmin):
    """A version's page: its numbers, the requests it removes, its files (viewable and downloadable); the mirrors
    that applied it are added by apps.mirrors.admin, which registers it."""

    change_form_template = "admin/blocklists/blocklistversion/change_form.html"
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

    def get_urls(self):
        return [
            path("<int:pk>/files/<path:name>", self.admin_site.admin_view(self.file_view),
                 name="blocklists_blocklistversion_file"),
            path("<int:pk>/download/<path:name>", self.admin_site.admin_view(self.download_view),
                 name="blocklists_blocklistversion_download"),
            *super().get_urls(),
        ]

    def _may_read_keys(self, request, version) -> bool:
        return roles.has_role(request.user, roles.RESTRICTED) or not blocklist_version_sensitive(version=version)

    def version_context(self, request, version) -> dict:
        """What the version's page shows besides its fields: the requests it removes and its files."""
        context = {"removes": version.requests.order_by("received_at").only("pk", "tracking_id", "category"),
                   "may_read_keys": self._may_read_keys(request, version), "files": [], "files_error": ""}
        try:
            context["files"] = blocklist_version_files(version=version)
        except TakedownError as exc:
            context["files_error"] = exc.message
        return context

    def change_view(self, request, object_id, form_url="", extra_context=None):
        version = self.get_object(request, object_id)
        extra = {**(extra_context or {})}
        if version is not None and self.has_view_permission(request, version):
            extra.update(self.version_context(request, version))
        return super().change_view(request, object_id, form_url, extra)

    def _file(self, request, pk, name):
        """(version, the file and its bytes, or None and the page saying why not: not a file of the version,
        missing, or lists keys the user may not read)."""
        version = get_object_or_404(BlocklistVersion.objects.select_related("release__dataset"), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        try:
            file, data = blocklist_version_file(version=version, name=name)
        except TakedownError as exc:
            return version, None, b"", self._page(request, version, name, refused=exc.message, status=404)
        if file.lists_keys and not self._may_read_keys(request, version):
            return version, None, b"", self._page(request, version, name, status=403, refused=(
                f"{version} carries csam or ncii removals: only staff with the restricted role may read the keys "
                "its files list."))
        return version, file, data, None

    def _page(self, request, version, name, status=200, **context):
        return TemplateResponse(request, "admin/blocklists/blocklistversion/file.html", {
            **self.admin_site.each_context(request), "title": f"{version}: {name}", "version": version,
            "name": name, "opts": self.model._meta,
            "version_url": reverse("admin:blocklists_blocklistversion_change", args=[version.pk]), **context,
        }, status=status)

    def file_view(self, request, pk, name):
        """A file of a version as text (the first VIEW_BYTES) or, binary, as a hex dump of its first bytes."""
        version, file, data, refused = self._file(request, pk, name)
        if refused is not None:
            return refused
        text = _text(data[:VIEW_BYTES])
        shown = min(len(data), VIEW_BYTES if text is not None else HEX_BYTES)
        sha256 = hashlib.sha256(data).hexdigest()
        return self._page(request, version, name, file=file, size=len(data), text=text, shown=shown,
                          truncated=len(data) > shown, hex=_hex(data[:shown]) if text is None else "",
                          sha256=sha256, digest_ok=file.sha256 is None or sha256 == file.sha256)

    def download_view(self, request, pk, name):
        """A file of a version as an attachment, with its content type."""
        version, file, data, refused = self._file(request, pk, name)
        if refused is not None:
            return refused
        response = HttpResponse(data, content_type=_CONTENT_TYPES.get(file.kind, _PARQUET))
        filename = f"{version.release.dataset.name}-{version.release.name}-v{version.version}-{file.name}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        response["X-Content-Type-Options"] = "nosniff"
        return response


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
