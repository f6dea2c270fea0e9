import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.advisories.answers import ANSWERS, JUSTIFICATIONS, NOTE_MAX
from apps.advisories.notify import api_url


class AnswerSerializer(serializers.Serializer):
    justification = serializers.CharField()
    retrained_on = serializers.CharField(help_text="DATASET/RELEASE")
    note = serializers.CharField()
    answered_at = serializers.DateTimeField(allow_null=True)


class AdvisorySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    advisory = serializers.CharField(source="advisory_id")
    dataset = serializers.CharField(source="release.dataset.name")
    release = serializers.CharField(source="release.name")
    blocklist_version = serializers.IntegerField(source="blocklist.version")
    removed_count = serializers.IntegerField()
    categories = serializers.DictField(child=serializers.IntegerField(),
                                       help_text="Samples by coarse category (csam and ncii count as legal).")
    fixed_in = serializers.CharField()
    deadline = serializers.DateTimeField()
    status = serializers.CharField()
    answer = serializers.SerializerMethodField()
    document_version = serializers.IntegerField()
    document = serializers.SerializerMethodField(help_text="The signed OpenVEX document, parsed; verify the "
                                                           "exact bytes from the document endpoint.")
    signature = serializers.CharField(help_text="Base64 Ed25519 signature of the document's bytes.")
    key_id = serializers.CharField(help_text="The published key (/.well-known/takedown/signing-keys.json).")
    url = serializers.SerializerMethodField()

    @extend_schema_field(AnswerSerializer)
    def get_answer(self, advisory) -> dict:
        return AnswerSerializer({
            "justification": advisory.answer_justification, "note": advisory.answer_note,
            "retrained_on": str(advisory.answer_retrained_on or ""), "answered_at": advisory.answered_at}).data

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_document(self, advisory) -> dict:
        return json.loads(bytes(advisory.document))

    def get_url(self, advisory) -> str:
        return api_url(advisory)


class AnswerInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ANSWERS)
    justification = serializers.ChoiceField(choices=JUSTIFICATIONS, required=False, allow_blank=True, default="",
                                            help_text="Required for not_affected (an OpenVEX justification).")
    retrained_on = serializers.CharField(max_length=201, required=False, allow_blank=True, default="",
                                         help_text="Required for fixed: DATASET/RELEASE, a later ready release of "
                                                   "the same dataset.")
    note = serializers.CharField(max_length=NOTE_MAX, required=False, allow_blank=True, default="")

    def validate(self, data):
        if data["status"] == "not_affected" and not data["justification"]:
            raise serializers.ValidationError({"justification": [
                f"required when status is not_affected: one of {', '.join(JUSTIFICATIONS)}"]})
        if data["status"] == "fixed" and not data["retrained_on"].strip():
            raise serializers.ValidationError({"retrained_on": [
                "required when status is fixed: the release the model was retrained on, as DATASET/RELEASE"]})
        return data
