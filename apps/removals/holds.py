"""The legal hold on csam records: the request, its identifiers and its hotline report outlive no deletion.

18 USC 2258A(h) (as amended by the REPORT Act) asks a provider to preserve
what it reported for at least a year. A csam request gets `legal_hold_until`
when it is logged (Policy.legal_hold_days, never under 365); until that day
passes, deleting it, any of its identifiers or its hotline report raises
LegalHold, whatever the path (admin, shell, a cascade from elsewhere):
Django sends pre_delete for every row it deletes, queryset deletes included.
"""
from django.db.models.signals import pre_delete
from django.utils import timezone


class LegalHold(PermissionError):
    """Deleting a record that is under legal hold."""


def _held(request) -> bool:
    return request is not None and request.legal_hold_until is not None \
        and request.legal_hold_until >= timezone.localdate()


def _refuse(request) -> None:
    raise LegalHold(f"{request.tracking_id} is under legal hold until {request.legal_hold_until}: "
                    "its record, identifiers and hotline report cannot be deleted before then")


def _guard_request(sender, instance, **kwargs):
    if _held(instance):
        _refuse(instance)


def _guard_child(sender, instance, **kwargs):
    request = type(instance).request.field.related_model.objects.filter(pk=instance.request_id).first()
    if _held(request):
        _refuse(request)


def connect() -> None:
    from apps.removals.models import HotlineReport, Identifier, RemovalRequest

    pre_delete.connect(_guard_request, sender=RemovalRequest, dispatch_uid="legal-hold-request")
    pre_delete.connect(_guard_child, sender=Identifier, dispatch_uid="legal-hold-identifier")
    pre_delete.connect(_guard_child, sender=HotlineReport, dispatch_uid="legal-hold-hotline-report")
