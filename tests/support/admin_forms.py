"""Reading an admin change page's form as a browser would submit it, and changing one field of it."""
from html.parser import HTMLParser

from django import forms


class _Form(HTMLParser):
    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id, self.inside, self.values = form_id, False, []
        self._select = self._textarea = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        if not self.inside or attrs.get("disabled") is not None:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.values.append((name, attrs.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select and "selected" in attrs:
            self.values.append((self._select, attrs.get("value", "")))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.values.append((self._textarea, "".join(self._text).removeprefix("\n")))
            self._textarea = None


def submitted(html: str, form_id: str) -> dict[str, list[str]]:
    """What the browser would send for that form unchanged: name -> values."""
    parser = _Form(form_id)
    parser.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in parser.values:
        data.setdefault(name, []).append(value)
    return data


def changed(field: forms.Field, current: list[str]) -> list[str] | None:
    """Another valid value for a form field, as submitted, or None when this walker cannot change it."""
    value = current[0] if current else ""
    if isinstance(field, forms.BooleanField):
        return [] if current else ["on"]
    if isinstance(field, forms.ModelMultipleChoiceField):
        choices = [str(pk) for pk in field.queryset.values_list("pk", flat=True)]
        return current[1:] if current else choices[:1] or None
    if isinstance(field, forms.ModelChoiceField):
        others = [str(pk) for pk in field.queryset.values_list("pk", flat=True) if str(pk) != value]
        return others[:1] or None
    if isinstance(field, forms.ChoiceField):
        others = [str(v) for v, _ in field.choices if str(v) not in ("", value)]
        return others[:1] or None
    if isinstance(field, forms.EmailField):
        return ["walked@example.org"]
    if isinstance(field, forms.URLField):
        return ["https://walked.example/hook"]
    if isinstance(field, forms.DecimalField):
        return ["1.50"]
    if isinstance(field, forms.IntegerField):
        return [str(int(value or 0) + 1)]
    if isinstance(field, forms.CharField) and not isinstance(field.widget, forms.PasswordInput):
        return [(value or "x") + "-walked"]
    return None
