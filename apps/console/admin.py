"""The staff console's admin pages: removal requests with what every stage knows of them, staff accounts, and a
release's shard heat map."""
# Each module registers its pages.
from apps.console import accounts_admin, releases_admin, removals_admin, users_admin  # noqa: F401
