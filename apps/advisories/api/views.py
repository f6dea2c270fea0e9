"""The model owner's API: its advisories, their signed documents, and its answers."""
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from apps.advisories.answers import advisory_answer, model_actor
from apps.advisories.api import serializers as s
from apps.advisories.api.auth import IsModelOwner, ModelTokenAuthentication
from apps.advisories.models import Advisory
from apps.advisories.selectors import advisories_list
from apps.core.api.permissions import TokenOnlyView
from apps.core.api.serializers import ErrorSerializer

_ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Invalid input; the message names the field."),
    401: OpenApiResponse(ErrorSerializer, description="Missing, unknown or revoked model token."),
    404: OpenApiResponse(ErrorSerializer, description="No such model for this token, or no such advisory."),
    429: OpenApiResponse(ErrorSerializer, description="Too many failed token logins from this address: wait "
                                                      "for Retry-After."),
}
# A document's signature, sent along with its bytes.
SIGNATURE_HEADER = "Takedown-Signature"
KEY_HEADER = "Takedown-Key-Id"


class ModelView(TokenOnlyView):
    authentication_classes = [ModelTokenAuthentication]
    permission_classes = [IsModelOwner]

    def advisories(self, request, name: str):
        # Another model's name answers as an unknown one would: a token does not learn which models exist.
        if name != request.auth.name:
            raise NotFound(f"no model {name!r} for this token")
        return advisories_list(model=request.auth).select_related("answer_retrained_on__dataset")

    def advisory(self, request, name: str, pk: int) -> Advisory:
        found = self.advisories(request, name).filter(pk=pk).first()
        if found is None:
            raise NotFound(f"model {name!r} has no advisory {pk}")
        return found


@extend_schema(tags=["model owners"])
class AdvisoriesView(ModelView):
    @extend_schema(summary="The model's advisories, newest first", responses={200: s.AdvisorySerializer(many=True),
                                                                              **_ERRORS})
    def get(self, request, name: str):
        return Response(s.AdvisorySerializer(self.advisories(request, name), many=True).data)


@extend_schema(tags=["model owners"])
class AdvisoryView(ModelView):
    @extend_schema(summary="One advisory", responses={200: s.AdvisorySerializer, **_ERRORS})
    def get(self, request, name: str, pk: int):
        return Response(s.AdvisorySerializer(self.advisory(request, name, pk)).data)


@extend_schema(tags=["model owners"])
class DocumentView(ModelView):
    @extend_schema(summary="An advisory's signed OpenVEX document, byte for byte as signed",
                   description=f"The signature (base64 Ed25519) is in the {SIGNATURE_HEADER} header, the key's id "
                               f"in {KEY_HEADER}.",
                   responses={(200, "application/json"): OpenApiTypes.BINARY, **_ERRORS})
    def get(self, request, name: str, pk: int):
        advisory = self.advisory(request, name, pk)
        response = HttpResponse(bytes(advisory.document), content_type="application/json")
        response[SIGNATURE_HEADER] = advisory.signature
        response[KEY_HEADER] = advisory.key_id
        response["Cache-Control"] = "private, no-cache"  # re-signed when answered or recounted
        return response


@extend_schema(tags=["model owners"])
class AnswerView(ModelView):
    @extend_schema(summary="Answer an advisory: the document is re-signed with the new status",
                   request=s.AnswerInputSerializer, responses={200: s.AdvisorySerializer, **_ERRORS})
    def post(self, request, name: str, pk: int):
        advisory = self.advisory(request, name, pk)
        data = s.AnswerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answered = advisory_answer(advisory=advisory, actor=model_actor(request.auth), **data.validated_data)
        return Response(s.AdvisorySerializer(answered).data)
