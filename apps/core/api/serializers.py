from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Every API error: what is wrong, and for bad input each problem with where it is."""

    detail = serializers.CharField()
    errors = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Each problem, with where it is (for example 'line 3: ...' or 'index 2: ...').",
    )
