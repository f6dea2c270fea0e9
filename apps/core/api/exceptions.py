"""DRF glue shared by every app's API."""
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import TakedownError


def exception_handler(exc, context):
    """Turn a TakedownError into a 400 with its message; leave the rest to DRF."""
    if isinstance(exc, TakedownError):
        body = {"detail": exc.message}
        if exc.details:
            body["errors"] = exc.details
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    return drf_exception_handler(exc, context)
