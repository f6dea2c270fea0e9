"""Model owner token authentication for the advisories API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import BasePermission

from apps.advisories.models import TrainedModel
from apps.advisories.services import MODEL_TOKENS
from apps.tokens.authentication import BearerTokenAuthentication


class ModelTokenAuthentication(BearerTokenAuthentication):
    kind = MODEL_TOKENS

    def holders(self):
        return TrainedModel.objects.all()


class IsModelOwner(BasePermission):
    message = "a model token is required (Authorization: Bearer td_model_...)"

    def has_permission(self, request, view):
        return isinstance(request.auth, TrainedModel)


class ModelTokenScheme(OpenApiAuthenticationExtension):
    target_class = ModelTokenAuthentication
    name = "modelToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Token printed by register_model."}
