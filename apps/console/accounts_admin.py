"""The admin's login (with a two-factor code) and its pages of login lockouts and two-factor devices: read-only
lists whose only change, unlocking or resetting, goes through an audited service."""
from django.contrib import admin, messages
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.forms import AdminLoginForm
from apps.accounts.models import LoginLockout, LoginRecord, TwoFactorDevice
from apps.accounts.services import lockout_clear, two_factor_reset
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin
from apps.core.errors import TakedownError

admin.site.login_form = AdminLoginForm
admin.site.login_template = "accounts/admin_login.html"
# django-otp's own pages edit devices (and show their secrets) with no audit: the ones below replace them.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class _ReadOnly(ReadOnlyAdmin):
    def has_delete_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # replaced by the audited action below
        return actions

    def _run(self, request, service, done: str, **kwargs) -> None:
        try:
            count = service(actor=Actor.for_user(request.user), **kwargs)
        except TakedownError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        else:
            self.message_user(request, done.format(count=count), messages.SUCCESS)


@admin.register(LoginLockout)
class LoginLockoutAdmin(_ReadOnly):
    """Failed logins per username and address (django-axes); LOGIN_FAILURE_LIMIT of them lock that pair.
    Unlocking (the action, or deleting a row) forgets them, audited as `user.unlocked`."""

    list_display = ("username", "ip_address", "failures_since_start", "attempt_time", "user_agent")
    list_filter = ("attempt_time",)
    search_fields = ("username", "ip_address")
    readonly_fields = ("username", "ip_address", "failures_since_start", "attempt_time", "user_agent",
                       "path_info", "http_accept")
    exclude = ("get_data", "post_data")
    actions = ["unlock"]

    @admin.action(description="Unlock: forget these failed logins", permissions=["delete"])
    def unlock(self, request, queryset):
        self._run(request, lockout_clear, "Unlocked {count} login(s).", attempts=list(queryset))

    def delete_model(self, request, obj):
        lockout_clear(attempts=[obj], actor=Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        lockout_clear(attempts=list(queryset), actor=Actor.for_user(request.user))


@admin.register(LoginRecord)
class LoginHistoryAdmin(_ReadOnly):
    """Successful logins and logouts (django-axes), read-only."""

    list_display = ("username", "ip_address", "attempt_time", "logout_time", "user_agent")
    search_fields = ("username", "ip_address")
    list_filter = ("attempt_time",)
    readonly_fields = ("username", "ip_address", "attempt_time", "logout_time", "user_agent", "path_info",
                       "http_accept")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TwoFactorDevice)
class TwoFactorDeviceAdmin(_ReadOnly):
    """Staff members' authenticator apps (never their secrets). Resetting one removes the member's app and
    backup codes, audited as `user.two_factor_reset`: they set it up again at their next login."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = readonly_fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    actions = ["reset"]

    @admin.action(description="Reset two-factor: the member sets it up again at next login", permissions=["delete"])
    def reset(self, request, queryset):
        for user in {device.user for device in queryset.select_related("user")}:
            self._run(request, two_factor_reset, f"Reset two-factor authentication of {user}.", user=user)

    def delete_model(self, request, obj):
        two_factor_reset(user=obj.user, actor=Actor.for_user(request.user))

    def delete_queryset(self, request, queryset):
        for user in {device.user for device in queryset.select_related("user")}:
            two_factor_reset(user=user, actor=Actor.for_user(request.user))

