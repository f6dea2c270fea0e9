"""Forms whose typed text is checked as apps.core.validation says, like every other entry point."""
from django import forms

from apps.core import validation


class TextCheckedMixin:
    """Refuse a control character or lone surrogate in any text field, naming the field.

    A textarea is free text (tab and line breaks allowed); any other text field
    is one line. Nothing is stripped or replaced: the field gets an error.
    """

    def clean(self):
        data = super().clean()
        for name, field in self.fields.items():
            value = data.get(name)
            if not isinstance(value, str):
                continue
            problem = validation.text_problem(value, free_text=isinstance(field.widget, forms.Textarea))
            if problem:
                self.add_error(name, f"{field.label or name.replace('_', ' ').capitalize()} {problem}.")
        return data


class CheckedForm(TextCheckedMixin, forms.Form):
    """A Form with its text checked (TextCheckedMixin)."""


class CheckedModelForm(TextCheckedMixin, forms.ModelForm):
    """A ModelForm with its text checked (TextCheckedMixin); the admin's default form (core.admin.ServiceAdmin)."""
