"""The staff console's admin pages: removal requests with what every stage knows of them, and staff accounts."""
from apps.console import accounts_admin, removals_admin, users_admin  # noqa: F401  (each registers its pages)
