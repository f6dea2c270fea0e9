"""Per-category duties: when a request is due."""
from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from apps.core.categories import Category

# How long each category may wait from receipt. csam: remove at once. ncii: 48
# hours (the US TAKE IT DOWN Act's removal window). copyright: "expeditiously"
# under 17 USC 512(c), taken here as two days. privacy: one month (GDPR Art. 12(3)).
RESPONSE_TIME = {
    Category.CSAM: timedelta(0),
    Category.NCII: timedelta(hours=48),
    Category.COPYRIGHT: timedelta(days=2),
    Category.PRIVACY: relativedelta(months=1),
    Category.OPT_OUT: timedelta(days=30),
    Category.OTHER: timedelta(days=30),
}


def due_at(category: str, received_at: datetime) -> datetime:
    """When a request of this category received at this time must be decided."""
    return received_at + RESPONSE_TIME[Category(category)]
