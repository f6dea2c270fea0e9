"""One form per category, all validated on the server; identifier lines are checked line by line."""
import copy
import secrets

from django import forms

from apps.core.categories import Category
from apps.core.errors import TakedownError
from apps.core.forms import CheckedForm
from apps.datasets.models import Dataset
from apps.intake.services import parse_lines
from apps.removals.models import Channel, DmcaNotice
from apps.removals.policy import ScopeMissing, identifiers_check

IDENTIFIERS_HELP = (
    "One per line: a web address (https://…), a sample key from the dataset (such as 000010005), "
    "or a file's hash as sha256,HEX (the tool below computes it on your device)."
)
# No hashing tool on the csam form (nobody should handle such a file to hash it), so no hash asked for either.
CSAM_IDENTIFIERS_HELP = (
    "One per line: the web address (https://…) where you saw the material, or its sample key in the dataset "
    "(such as 000010005). Copy them from the page or from the dataset's listing: never download, open, save or "
    "hash the material itself to find them."
)
OPT_OUT_HELP = IDENTIFIERS_HELP + (
    " Opt-outs may also name a whole domain as domain:example.com, or every address under a prefix "
    "as prefix:https://example.com/gallery/."
)

class ReportForm(CheckedForm):
    category = Category.OTHER
    title = "Something else"
    # Personal data asked of the requester; csam reports may be anonymous.
    anonymous_allowed = False
    hasher = True

    nonce = forms.CharField(widget=forms.HiddenInput, required=False, max_length=64)
    requester_name = forms.CharField(label="Your name", max_length=200)
    requester_email = forms.EmailField(
        label="Your email", max_length=254,
        help_text="We write to you here about this report. It is never published.")
    identifiers = forms.CharField(
        label="What should be removed", max_length=200_000, help_text=IDENTIFIERS_HELP,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocapitalize": "off",
                                     "autocomplete": "off"}))
    reference = forms.CharField(label="Your reference (optional)", max_length=200, required=False,
                                help_text="A case number of your own, if you have one.")
    details = forms.CharField(
        label="What is the problem?", max_length=5000,
        help_text="Say why the material should be removed.",
        widget=forms.Textarea(attrs={"rows": 4}))

    dataset = forms.ChoiceField(
        label="Which dataset", required=False,
        help_text="Needed when you give sample keys: the same key names different pictures in different datasets. "
                  "Web addresses and hashes are looked for in every dataset when you leave this blank.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound and not self.initial.get("nonce"):
            self.initial["nonce"] = secrets.token_urlsafe(16)
        # Asked only where the host publishes several datasets; with one, a sample key can only mean that one.
        self.datasets = list(Dataset.objects.order_by("name"))
        if len(self.datasets) > 1:
            self.fields["dataset"].choices = [("", "All datasets / I don't know"),
                                              *((d.name, d.name) for d in self.datasets)]
        else:
            del self.fields["dataset"]

    # Sections in the order the page shows them: (heading, intro, field names).
    def section_spec(self) -> list[tuple[str, str, list[str]]]:
        return [
            ("About you", "", ["requester_name", "requester_email"]),
            ("What to remove", "", ["identifiers", "dataset"]),
            ("More about the report", "", [n for n in ("details", "reference") if n in self.fields]),
        ]

    def sections(self):
        return [(title, intro, [self[name] for name in names if name in self.fields])
                for title, intro, names in self.section_spec() if any(n in self.fields for n in names)]

    def clean(self):
        data = super().clean()
        text = data.get("identifiers")
        if text is not None:
            parsed, errors = parse_lines(text, category=self.category)
            if errors:
                self.add_error("identifiers", errors)
            elif not parsed:
                self.add_error("identifiers", "Give at least one web address, sample key or hash.")
            else:
                data["parsed"] = parsed
                data["scope"] = self._scope(parsed, data.get("dataset", ""))
        return data

    def _scope(self, parsed, chosen: str) -> Dataset | None:
        """The dataset the report applies to: the one chosen, or the host's only one for sample keys."""
        dataset = next((d for d in self.datasets if d.name == chosen), None)
        if dataset is None and len(self.datasets) == 1 and any(p.kind == "key" for p in parsed):
            dataset = self.datasets[0]
        try:
            identifiers_check(identifiers=parsed, category=self.category, channel=Channel.WEB_FORM, dataset=dataset)
        except ScopeMissing:
            if not self.datasets:
                self.add_error("identifiers", "No dataset is published here yet, so a sample key names nothing: "
                                              "give web addresses or hashes instead.")
            else:
                self.add_error("dataset", "Sample keys name a picture only within one dataset: choose the dataset "
                                          "they are from.")
        except TakedownError as exc:
            self.add_error("identifiers", exc.message)
        return dataset

    # What report_submit needs, from the cleaned data.
    def submission(self) -> dict:
        data = self.cleaned_data
        details = {key: data[key].strip() for key in ("details", "identifiable") if data.get(key, "").strip()}
        return {
            "category": self.category,
            "identifiers": data["parsed"],
            "requester_name": data.get("requester_name", ""),
            "requester_email": data.get("requester_email", ""),
            "requester_details": details,
            "reference": data.get("reference", ""),
            "dataset": data.get("scope"),
            "dmca": self.dmca(),
        }

    def dmca(self) -> dict | None:
        return None


class CopyrightForm(ReportForm):
    category = Category.COPYRIGHT
    title = "Copyright (DMCA notice)"

    signature = forms.CharField(
        label="Signature", max_length=300, required=False,
        help_text="(i) Type your full name: it is your electronic signature.")
    copyrighted_work = forms.CharField(
        label="The copyrighted work", max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="(ii) Identify the work you own or represent: its title, and where it is published.")
    infringing_material = forms.CharField(
        label="The infringing material and where it is", max_length=5000, required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="(iii) Describe the material and where it is in the dataset; list its web addresses or "
                  "sample keys in the box above as well.")
    contact = forms.CharField(
        label="Your contact details", max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="(iv) Postal address, telephone number and email address.")
    good_faith = forms.BooleanField(
        required=False,
        label="(v) I have a good-faith belief that use of the material in the manner complained of is not "
              "authorised by the copyright owner, its agent, or the law.")
    accurate_under_penalty = forms.BooleanField(
        required=False,
        label="(vi) The information in this notice is accurate and, under penalty of perjury, I am the owner, "
              "or authorised to act on behalf of the owner, of an exclusive right that is allegedly infringed.")
    details = forms.CharField(label="Anything else we should know (optional)", max_length=5000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))

    DMCA_FIELDS = [name for name, _ in DmcaNotice.ELEMENTS]

    def section_spec(self):
        spec = super().section_spec()
        notice = ("Your DMCA notice", (
            "17 USC 512(c)(3)(A) requires all six elements below. A notice missing any of them is logged "
            "but sent back as incomplete: we cannot act on it until you send a complete one."), self.DMCA_FIELDS)
        return [spec[0], spec[1], notice, spec[2]]

    def dmca(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.DMCA_FIELDS}


class PrivacyForm(ReportForm):
    category = Category.PRIVACY
    title = "Privacy (GDPR erasure)"

    identifiable = forms.CharField(
        label="How can you be identified in this material?", max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: your face in the photo, or your name in the caption. Keep it short, and do not "
                  "send identity documents.")
    details = forms.CharField(label="Anything else we should know (optional)", max_length=5000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))

    def section_spec(self):
        spec = super().section_spec()
        spec[1] = ("What to remove", "", ["identifiers", "identifiable"])
        return spec


class OptOutForm(ReportForm):
    category = Category.OPT_OUT
    title = "Opt-out (do not train on my work)"

    identifiers = forms.CharField(
        label="What should be removed", max_length=200_000, help_text=OPT_OUT_HELP,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocapitalize": "off",
                                     "autocomplete": "off"}))
    details = forms.CharField(label="Anything else we should know (optional)", max_length=5000, required=False,
                              widget=forms.Textarea(attrs={"rows": 3}))


class NciiForm(ReportForm):
    category = Category.NCII
    title = "Intimate images shared without consent"
    # No more personal data than a way to reach the person.
    reference = None
    details = None


class CsamForm(ReportForm):
    category = Category.CSAM
    title = "Child sexual abuse material"
    anonymous_allowed = True
    # Nobody should handle such a file to hash it: addresses and sample keys only.
    hasher = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["identifiers"].help_text = CSAM_IDENTIFIERS_HELP
        if "dataset" in self.fields:  # asked only where the host publishes several datasets
            self.fields["dataset"].help_text = (
                "Needed when you give sample keys: the same key names different pictures in different datasets. "
                "Web addresses are looked for in every dataset when you leave this blank.")

    requester_name = forms.CharField(label="Your name (optional)", max_length=200, required=False)
    requester_email = forms.EmailField(
        label="Your email (optional)", max_length=254, required=False,
        help_text="You may report anonymously. With an address we can tell you what we did.")
    reference = None
    details = None


FORMS: dict[str, type[ReportForm]] = {
    form.category: form for form in (CopyrightForm, PrivacyForm, OptOutForm, NciiForm, CsamForm, ReportForm)
}
# The order the chooser lists them in.
CHOICES = [
    (Category.COPYRIGHT, "Copyright", "You own or represent the rights to a work in the dataset: send a DMCA notice."),
    (Category.PRIVACY, "Privacy", "You can be identified in the dataset and want it erased (GDPR Art. 17)."),
    (Category.OPT_OUT, "Opt-out", "You do not want your work, or your whole site, used for training."),
    (Category.NCII, "Intimate images", "Intimate images of you, or of someone you represent, shared without "
                                       "consent."),
    (Category.CSAM, "Child sexual abuse material", "Material that sexually exploits a child. You may report "
                                                   "anonymously."),
    (Category.OTHER, "Something else", "Any other abuse or unlawful content."),
]


class DmcaNoticeForm(CheckedForm):
    """The six DMCA elements alone, for completing a notice from the status page (as on the copyright form)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in CopyrightForm.DMCA_FIELDS:
            self.fields[name] = copy.deepcopy(CopyrightForm.base_fields[name])
            self.fields[name].widget.attrs.pop("form", None)

    def dmca(self) -> dict:
        return {name: self.cleaned_data[name] for name in CopyrightForm.DMCA_FIELDS}
