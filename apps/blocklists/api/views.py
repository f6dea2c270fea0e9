from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.blocklists import signing


@extend_schema(tags=["public"])
class SigningKeysView(APIView):
    """The public keys that verify blocklist manifests."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Blocklist signing keys",
        responses={200: inline_serializer("SigningKeys", {
            "keys": serializers.ListField(child=inline_serializer("SigningKey", {
                "key_id": serializers.CharField(),
                "algorithm": serializers.CharField(),
                "public_key": serializers.CharField(help_text="Base64 of the 32 raw Ed25519 bytes."),
                "status": serializers.CharField(),
            }))
        })},
    )
    def get(self, request):
        response = Response(signing.public_keys_document())
        response["Cache-Control"] = "public, max-age=300"
        return response
