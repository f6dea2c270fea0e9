from rest_framework import serializers

from apps.core import validation


class ErrorSerializer(serializers.Serializer):
    """Every API error: what is wrong, and for bad input each problem with where it is."""

    detail = serializers.CharField()
    errors = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Each problem, with where it is (for example 'line 3: ...' or 'index 2: ...').",
    )


def one_line(value: str) -> str:
    """A serializer validator: a field that is one line of text (no tab or line break, nor any other control
    character; apps.core.validation)."""
    problem = validation.text_problem(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


def sane_moment(value):
    """A serializer validator: a moment in validation's window (not before 1990, not in the future)."""
    try:
        return validation.check_moment(value, field="time")
    except validation.InvalidInput as exc:
        raise serializers.ValidationError(str(exc).removeprefix("time: ")) from None
