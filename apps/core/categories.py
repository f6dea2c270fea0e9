"""Request categories: every stage needs to know which ones are restricted, so they live at the bottom."""
from django.db import models


class Category(models.TextChoices):
    CSAM = "csam", "Child sexual abuse material"
    NCII = "ncii", "Non-consensual intimate imagery"
    COPYRIGHT = "copyright", "Copyright"
    PRIVACY = "privacy", "Privacy (GDPR erasure)"
    OPT_OUT = "opt_out", "Opt-out"
    OTHER = "other", "Other"


# Categories whose identifiers, matches and requester only restricted staff may see.
RESTRICTED_CATEGORIES = (Category.CSAM, Category.NCII)
