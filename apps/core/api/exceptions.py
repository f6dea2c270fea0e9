"""DRF glue shared by every app's API: one JSON error shape, `detail` (and for bad input `errors`), for every 4xx.

The same shape for what never reaches a view: an unknown URL under /api/
(404), and a URL the edge refuses (apps.core.middleware: 404 for the path,
400 for the query).
"""
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import NotFoundError, TakedownError

API_PREFIX = "/api/"


def error_lines(errors, prefix: str = "") -> list[str]:
    """A serializer's (nested) errors, one line per problem, each with its field's dotted name."""
    if isinstance(errors, dict):
        return [line for name, value in errors.items() for line in error_lines(value, f"{prefix}{name}.")]
    if isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            return [f"{prefix.rstrip('.')}: {item}" if prefix else str(item) for item in errors]
        return [line for index, item in enumerate(errors)
                for line in error_lines(item, f"{prefix.rstrip('.')}[{index}].")]
    return [f"{prefix.rstrip('.')}: {errors}" if prefix else str(errors)]


def exception_handler(exc, context):
    """A TakedownError is a 400 (NotFoundError a 404) with its message; a serializer's errors become `detail`
    and one `errors` line per problem; the rest is DRF's own answer (which carries `detail`)."""
    if isinstance(exc, TakedownError):
        body = {"detail": exc.message}
        if exc.details:
            body["errors"] = exc.details
        code = status.HTTP_404_NOT_FOUND if isinstance(exc, NotFoundError) else status.HTTP_400_BAD_REQUEST
        return Response(body, status=code)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        lines = error_lines(exc.detail)
        response.data = {"detail": f"invalid input: {lines[0]}" if len(lines) == 1 else
                                   f"invalid input ({len(lines)} problems)", "errors": lines}
    return response


def _message(exception, default: str) -> str:
    message = exception.args[0] if exception is not None and exception.args else None
    return message if isinstance(message, str) and message else default


def not_found(request, exception=None):
    """handler404: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": _message(exception, f"no API endpoint at {request.path[:200]}")},
                            status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    """handler400: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": _message(exception, "bad request")}, status=status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception)
