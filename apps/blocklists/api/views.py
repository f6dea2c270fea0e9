from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.blocklists import signing

# Short: a mirror that meets a manifest signed by a key it does not know fetches this document,
# and after a rotation every cache between it and the host must show the new key soon.
MAX_AGE_SECONDS = 60


@extend_schema(tags=["public"])
class SigningKeysView(APIView):
    """The public keys that verify blocklist manifests, and the statements that chain rotated keys."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Blocklist signing keys",
        responses={200: inline_serializer("SigningKeys", {
            "keys": serializers.ListField(child=inline_serializer("SigningKey", {
                "key_id": serializers.CharField(help_text="First 16 hex characters of the sha256 of the raw key."),
                "algorithm": serializers.CharField(),
                "public_key": serializers.CharField(help_text="Base64 of the 32 raw Ed25519 bytes."),
                "status": serializers.ChoiceField(choices=["active", "retired"]),
                "created_at": serializers.CharField(),
                "retired_at": serializers.CharField(allow_null=True),
            }), help_text="The active key first, then retired keys (newest first)."),
            "rotations": serializers.ListField(child=inline_serializer("SigningKeyRotation", {
                "old_key_id": serializers.CharField(),
                "new_key_id": serializers.CharField(),
                "new_public_key": serializers.CharField(help_text="Base64 of the new key's 32 raw bytes."),
                "at": serializers.CharField(),
                "signature": serializers.CharField(
                    help_text="Base64 Ed25519 signature by the old key of the statement bytes: the four "
                              "other fields as JSON with sorted keys and no spaces."),
            }), help_text="Oldest first."),
        })},
    )
    def get(self, request):
        response = Response(signing.public_keys_document())
        response["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
        return response
