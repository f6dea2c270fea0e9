"""Settings, all driven by environment variables with safe embedded defaults.

With nothing set, the product runs on SQLite and a folder-based Celery broker,
every file under DATA_DIR (default ./var). With DATABASE_URL and REDIS_URL it
runs on PostgreSQL with Celery on Redis. A bad value stops start-up with the
variable's name.
"""
import importlib
import json
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

import environ
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

from apps.core.files import write_once

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_percent(name: str, default: float) -> float:
    """A percentage above 0 and at most 100, written 1, 0.5 or 1%."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw.strip().removesuffix("%"))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a percentage (e.g. 1 or 0.5%)") from None
    if not 0 < value <= 100:
        raise ImproperlyConfigured(f"{name}={raw!r} must be above 0 and at most 100 (percent)")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def _data_dir() -> Path:
    raw = env_str("DATA_DIR")
    path = Path(raw).expanduser().resolve() if raw else BASE_DIR / "var"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"DATA_DIR={str(path)!r} cannot be created: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ImproperlyConfigured(f"DATA_DIR={str(path)!r} is not writable")
    return path


DATA_DIR = _data_dir()


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Generated once, so sessions survive restarts without anyone choosing a key. Written whole or not at all:
    # processes starting together on a new DATA_DIR all read the one that got there first.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        write_once(path, secrets.token_urlsafe(50).encode())
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Absolute base URL used in links sent to mirrors (webhooks, feed entries).
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def _operator_url(name: str) -> str:
    value = env_str(name)
    if value and not value.startswith(("https://", "http://")):
        raise ImproperlyConfigured(f"{name}={value!r} must be a web address starting with https:// or http://")
    return value


def _operator_contact() -> str:
    value = env_str("OPERATOR_CONTACT")
    if value and not value.startswith(("https://", "http://")) and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ImproperlyConfigured(f"OPERATOR_CONTACT={value!r} must be an email address or a web address")
    return value


# Who runs this host: named on every public page (the landing page, the report form, the transparency report).
OPERATOR_NAME = env_str("OPERATOR_NAME", "The dataset publisher")
OPERATOR_URL = _operator_url("OPERATOR_URL")
OPERATOR_CONTACT = _operator_contact()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "apps.core",
    "apps.audit",
    "apps.events",
    "apps.tokens",
    "apps.accounts",
    "apps.datasets",
    "apps.removals",
    "apps.matching",
    "apps.blocklists",
    "apps.mirrors",
    "apps.advisories",
    "apps.intake",
    "apps.transparency",
    "apps.console",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything reads the URL: a control character in its path or query goes no further.
    "apps.core.middleware.EdgeInputMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed a second factor (apps.accounts).
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.StaffTwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.events.context_processors.background",
                "apps.core.context_processors.operator",
            ],
        },
    },
]


def _sqlite(path: Path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        # The web server and the worker write to one file: wait for the lock
        # instead of failing, and take it at the start of a transaction.
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not memory, so a Celery worker started by a test sees the test data.
        "TEST": {"NAME": str(path.with_name(f"test_{path.name}"))},
    }


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        return _sqlite(DATA_DIR / "takedown.sqlite3")
    try:
        config = environ.Env.db_url_config(url)
    except Exception as exc:  # django-environ raises several types for bad URLs
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    engine = config.get("ENGINE", "")
    if engine.endswith("sqlite3"):
        return _sqlite(Path(config["NAME"]).resolve())
    if not engine.endswith(("postgresql", "postgis")):
        raise ImproperlyConfigured(f"DATABASE_URL={url!r}: only PostgreSQL and SQLite are supported")
    config.setdefault("CONN_MAX_AGE", 60)
    config["CONN_HEALTH_CHECKS"] = True
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve app static files straight from the apps, so no collectstatic step is needed locally.
WHITENOISE_USE_FINDERS = True

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "media"},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Published blocklist files; BLOCKLISTS_DIR moves them (for example onto a disk a web server serves).
    "blocklists": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": Path(env_str("BLOCKLISTS_DIR") or DATA_DIR / "blocklists").resolve()},
    },
}


# ---- Blocklist files on object storage, served through a CDN (apps.blocklists, docs/publishing.md) ----
# With BLOCKLISTS_S3_BUCKET the published files go to that S3-compatible bucket (BLOCKLISTS_S3_ENDPOINT_URL
# for a store other than AWS, e.g. MinIO; credentials from the usual AWS_* variables or the machine's role),
# under BLOCKLISTS_S3_PREFIX. BLOCKLISTS_PUBLIC_URL: where those files are publicly readable (a CDN, or the
# bucket's own address); the mirror API then answers file requests with a redirect there.
def _blocklist_storage() -> tuple[dict | None, str]:
    import re
    from urllib.parse import urlsplit

    def url(name: str) -> str:
        value = env_str(name).rstrip("/")
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment):
            raise ImproperlyConfigured(f"{name}={value!r} is not an http(s) URL (e.g. https://cdn.example.org/bl)")
        return value

    bucket, endpoint, prefix = env_str("BLOCKLISTS_S3_BUCKET"), url("BLOCKLISTS_S3_ENDPOINT_URL"), env_str(
        "BLOCKLISTS_S3_PREFIX").strip("/")
    public = url("BLOCKLISTS_PUBLIC_URL")
    if not bucket:
        if endpoint or prefix:
            raise ImproperlyConfigured("BLOCKLISTS_S3_ENDPOINT_URL and BLOCKLISTS_S3_PREFIX need BLOCKLISTS_S3_BUCKET")
        return None, public
    if not re.fullmatch(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]", bucket):
        raise ImproperlyConfigured(f"BLOCKLISTS_S3_BUCKET={bucket!r} is not a bucket name (3-63 of a-z 0-9 . -)")
    if env_str("BLOCKLISTS_DIR"):
        raise ImproperlyConfigured("BLOCKLISTS_DIR and BLOCKLISTS_S3_BUCKET are both set: choose one place")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": bucket, "endpoint_url": endpoint or None, "location": prefix,
                    "region_name": env_str("BLOCKLISTS_S3_REGION") or None, "file_overwrite": True,
                    "default_acl": None},
    }, public


_blocklists_s3, BLOCKLISTS_PUBLIC_URL = _blocklist_storage()
if _blocklists_s3:
    STORAGES["blocklists"] = _blocklists_s3

LOGIN_URL = "admin:login"

# ---- Staff accounts: login lockout and two-factor authentication (apps.accounts, README "Accounts") ----
# django-axes counts failed logins per username + client IP (TRUSTED_PROXIES decides the IP, as for every
# limit) in the database, so it holds across web processes with no cache; LOGIN_FAILURE_LIMIT failures lock
# that pair for LOGIN_LOCKOUT_MINUTES (further tries do not extend it). Staff unlock earlier in the admin
# (Accounts > Login lockouts).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_CLIENT_IP_CALLABLE = "apps.core.ratelimit.client_address"
AXES_LOCKOUT_CALLABLE = "apps.accounts.views.locked_out"  # a clear page, 429 with Retry-After
AXES_SENSITIVE_PARAMETERS = ["otp_token", "csrfmiddlewaretoken"]
AXES_ENABLE_ADMIN = False  # apps.console registers the lockout pages, with an audited unlock
# Staff must pass a second factor (an authenticator app's code, or a backup code) to use the admin; a staff
# member without one is sent to enrol at their next login. Turn off only for a throwaway local instance.
STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", True)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Takedown")
# Backup codes issued at enrolment (each works once; staff can issue a new set).
STAFF_BACKUP_CODES = env_int("STAFF_BACKUP_CODES", 10, minimum=1)

# ---- API tokens: guessing is throttled per client IP (apps.tokens.authentication) ----
# After TOKEN_AUTH_FAILURES wrong tokens within TOKEN_AUTH_WINDOW_SECONDS, every bearer token from that
# address is answered 429 with Retry-After until the window ends. Counted in the cache (see CACHE_URL).
TOKEN_AUTH_FAILURES = env_int("TOKEN_AUTH_FAILURES", 20, minimum=1)
TOKEN_AUTH_WINDOW_SECONDS = env_int("TOKEN_AUTH_WINDOW_SECONDS", 600, minimum=1)

# ---- HTTPS and browser protections (README "Production settings"; `manage.py check --deploy`) ----
# HTTPS=true says the site is served over HTTPS: then HTTP is redirected, cookies are sent over HTTPS only
# and browsers are told to use HTTPS for a year (HSTS). Each setting can be overridden on its own.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
# Asks browsers' built-in HSTS lists to carry the domain: a commitment to HTTPS for good, so opt-in.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)


def _proxy_ssl_header() -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto (or Name=value): the header a TLS-terminating proxy sets."""
    import re

    raw = env_str("SECURE_PROXY_SSL_HEADER")
    if not raw:
        return None
    name, _, value = (part.strip() for part in raw.partition("="))
    if not re.fullmatch(r"[A-Za-z0-9-]+", name):
        raise ImproperlyConfigured(f"SECURE_PROXY_SSL_HEADER={raw!r} is not a header name, e.g. X-Forwarded-Proto")
    return "HTTP_" + name.upper().replace("-", "_"), value or "https"


# Only behind a proxy that always sets (or strips) this header: a client could otherwise claim HTTPS.
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header()

# Content-Security-Policy on every page (django-csp): scripts only from this site or inline with the
# request's nonce, no plugins, no framing, forms post only here. Inline style attributes stay allowed (the
# admin uses them; they cannot run code). CSP_REPORT_URI collects violation reports; CSP_REPORT_ONLY=true
# sends the policy as Content-Security-Policy-Report-Only (to try a change before enforcing it).
_CSP = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.NONE],
        "frame-ancestors": [csp_constants.NONE],
        "form-action": [csp_constants.SELF],
        **({"report-uri": [env_str("CSP_REPORT_URI")]} if env_str("CSP_REPORT_URI") else {}),
    },
}
if env_bool("CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.exception_handler",
    # JSON only, checked (nesting depth, control characters): the bulk endpoints set their own parsers.
    "DEFAULT_PARSER_CLASSES": ["apps.core.api.bodies.CheckedJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Takedown API",
    "DESCRIPTION": (
        "Removal requests for large datasets: matching, signed shard-level blocklists, "
        "and the mirror sync feed."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "apps.core.api.schema.document_uri_too_long"],
}

# Celery: Redis when REDIS_URL is set, otherwise a folder queue under DATA_DIR
# that needs no server but is still consumed by a real `celery -A project worker`.
REDIS_URL = env_str("REDIS_URL")
# Redis gives an unacknowledged task to another worker after this long, so it must exceed the longest task:
# a task still running then would run twice at once.
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 7200, minimum=1)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS}
else:
    # apps.core.folder_broker: messages stay on disk until acknowledged, and those of a killed worker are
    # put back by the next one. It is polled: every 0.1 s costs a folder listing and keeps a hop through the
    # queue well under a second. Nothing of Celery's needs turning off for it: gossip and mingle switch
    # themselves off on any transport but AMQP and Redis, and remote control (`celery inspect ping`) reads
    # exchange tables that are now written whole.
    CELERY_BROKER_URL = "folder://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder": str(DATA_DIR / "celery"), "polling_interval": 0.1}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "takedown")
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only once it has run, and every task is idempotent,
# so a worker killed mid-task loses nothing: the message is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
(DATA_DIR / "celery").mkdir(exist_ok=True)  # beat opens its schedule file there, on either broker
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")
# ---- Background work: the event outbox (apps.events, docs/architecture.md) ----
# A worker renews the lease of the handler it runs every third of this; a lease that lapses means the worker
# died, and the reconciler hands the run out again.
EVENT_LEASE_SECONDS = env_int("EVENT_LEASE_SECONDS", 60, minimum=1)
# Tries of a failing handler (waiting EVENT_RETRY_BASE_SECONDS, twice that, ... up to an hour) before it is
# dead and shown to staff for a retry.
EVENT_MAX_ATTEMPTS = env_int("EVENT_MAX_ATTEMPTS", 12, minimum=1)
EVENT_RETRY_BASE_SECONDS = env_int("EVENT_RETRY_BASE_SECONDS", 2, minimum=1)
# A run still waiting this long after its queue message was sent gets another (the message may have been
# lost with a broker that restarted); the wait doubles with each message, up to an hour.
EVENT_REDISPATCH_SECONDS = env_int("EVENT_REDISPATCH_SECONDS", 30, minimum=1)
# How often beat runs the reconciler (and with it the webhook resume); the admin warns when it is 3x late.
RESUME_INTERVAL_SECONDS = env_int("RESUME_INTERVAL_SECONDS", 15, minimum=1)
# Workers write a heartbeat this often; one silent for WORKER_STALE_SECONDS shows as missing in the admin.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 45, minimum=1)
if WORKER_STALE_SECONDS <= WORKER_HEARTBEAT_SECONDS:
    raise ImproperlyConfigured(f"WORKER_STALE_SECONDS={WORKER_STALE_SECONDS} must be more than "
                               f"WORKER_HEARTBEAT_SECONDS={WORKER_HEARTBEAT_SECONDS}")
CELERY_BEAT_SCHEDULE = {
    "reconcile": {"task": "apps.events.tasks.reconcile_task", "schedule": RESUME_INTERVAL_SECONDS},
    "deadline-reminders": {
        "task": "apps.removals.tasks.reminders_task",
        "schedule": env_int("REMINDER_INTERVAL_SECONDS", 3600, minimum=1),
    },
    "counter-notice-restorations": {
        "task": "apps.removals.tasks.counter_notices_task",
        "schedule": env_int("REMINDER_INTERVAL_SECONDS", 3600, minimum=1),
    },
}

# Domain settings.
# Per-release sample indexes (one folder per release; memory-mapped when matching).
INDEX_DIR = Path(env_str("INDEX_DIR") or DATA_DIR / "index").resolve()
# Rows per index segment: bounds the memory of building one (1.3 GB at 10M rows, docs/scaling.md).
INDEX_SEGMENT_ROWS = env_int("INDEX_SEGMENT_ROWS", 10_000_000, minimum=1)

# Index files on object storage too (apps.index.storage), e.g. s3://bucket/prefix: built files
# are pushed there, and a machine without a release's index pulls it. Empty: local disk only.
def _index_storage() -> tuple[str, dict]:
    import json

    url = env_str("INDEX_STORAGE_URL").rstrip("/")
    if url and "://" not in url:
        raise ImproperlyConfigured(f"INDEX_STORAGE_URL={url!r} is not a URL (e.g. s3://bucket/prefix)")
    raw = env_str("INDEX_STORAGE_OPTIONS")
    try:
        options = json.loads(raw) if raw else {}
    except json.JSONDecodeError as exc:
        raise ImproperlyConfigured(f"INDEX_STORAGE_OPTIONS is not valid JSON: {exc}") from None
    if not isinstance(options, dict):
        raise ImproperlyConfigured("INDEX_STORAGE_OPTIONS must be a JSON object, e.g. {\"endpoint_url\": \"...\"}")
    return url, options


# Options go to the fsspec filesystem as they are (s3fs: endpoint_url, key, secret, client_kwargs, ...).
INDEX_STORAGE_URL, INDEX_STORAGE_OPTIONS = _index_storage()

PDQ_MATCH_THRESHOLD = env_int("PDQ_MATCH_THRESHOLD", 31, minimum=0)
# Meta calls hashes of quality below 50 unreliable (flat images collide). A takedown
# tool should not miss silently, so by default every hash is matched and reviewers
# see the distance; set 50 to leave low-quality hashes out.
PDQ_MIN_QUALITY = env_int("PDQ_MIN_QUALITY", 0, minimum=0)
# Flood quarantine (apps.removals.policy.flood_limits): a request that would remove more samples than this, or more
# than this percentage of a release's samples (counted once it hits at least FLOOD_SHARE_MIN_SAMPLES of them), waits
# for a reviewer whatever the review policy says. A trusted flagger may have its own limits (admin).
FLOOD_MAX_SAMPLES = env_int("FLOOD_MAX_SAMPLES", 1000, minimum=1)
FLOOD_MAX_SHARE = env_percent("FLOOD_MAX_SHARE", 1.0)
FLOOD_SHARE_MIN_SAMPLES = env_int("FLOOD_SHARE_MIN_SAMPLES", 100, minimum=1)
# Categories whose URL and key hits expand to every sample with the same image hash.
EXPAND_SAME_CONTENT_CATEGORIES = env_list("EXPAND_SAME_CONTENT_CATEGORIES", ["csam", "ncii"])
BLOCKLIST_MANIFEST_TTL_DAYS = env_int("BLOCKLIST_MANIFEST_TTL_DAYS", 90, minimum=1)
# ---- Blocklist signing keys (apps.blocklists.signing, docs/signing-keys.md) ----
# The keyring: one private key per file (0600, named by key id) and keyring.json (statuses, rotation
# statements). Shared by every process that publishes; rotate with `manage.py rotate_signing_key`.
BLOCKLIST_KEYRING_DIR = Path(env_str("BLOCKLIST_KEYRING_DIR") or DATA_DIR / "keys").expanduser().resolve()
# Ed25519 private key as PEM text or a path to a PEM file: the keyring's first key when it is created
# (else an existing DATA_DIR/keys/blocklist-ed25519.pem, else a new key). Later it must be one of its keys.
BLOCKLIST_SIGNING_KEY = env_str("BLOCKLIST_SIGNING_KEY")
# ---- Audit trail anchor (apps.audit.anchor, docs/security.md) ----
# What someone who can write the database cannot rewrite: the key that MACs every audit event (AUDIT_KEY, or
# AUDIT_DIR/audit.key made on first use) and AUDIT_DIR/checkpoints.log, the head of the trail after every
# commit. One folder shared by every process that writes audit events (web, workers, commands); back it up.
AUDIT_DIR = Path(env_str("AUDIT_DIR") or DATA_DIR / "audit").expanduser().resolve()
AUDIT_KEY = env_str("AUDIT_KEY")
if AUDIT_KEY and len(AUDIT_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_KEY must be at least 32 characters (e.g. the output of "
                               "python -c 'import secrets; print(secrets.token_hex(32))')")
# Where an opt-out requester publishes the token proving control of a domain ({domain} is filled in).
DOMAIN_PROOF_URL = env_str("DOMAIN_PROOF_URL", "https://{domain}/.well-known/takedown-opt-out.txt")
if "{domain}" not in DOMAIN_PROOF_URL:
    raise ImproperlyConfigured(f"DOMAIN_PROOF_URL={DOMAIN_PROOF_URL!r} must contain {{domain}}")
# ---- Blocklist refresh before expiry (apps.blocklists, docs/publishing.md) ----
# A release whose latest version expires within this many days gets a new version with the same keys, so
# a mirror never has only an expired manifest to apply; checked every BLOCKLIST_REFRESH_INTERVAL_SECONDS.
BLOCKLIST_REFRESH_DAYS = env_int("BLOCKLIST_REFRESH_DAYS", 30, minimum=1)
if BLOCKLIST_REFRESH_DAYS >= BLOCKLIST_MANIFEST_TTL_DAYS:
    raise ImproperlyConfigured(
        f"BLOCKLIST_REFRESH_DAYS={BLOCKLIST_REFRESH_DAYS} must be less than BLOCKLIST_MANIFEST_TTL_DAYS="
        f"{BLOCKLIST_MANIFEST_TTL_DAYS} (otherwise every check would publish a new version)")
CELERY_BEAT_SCHEDULE |= {
    "refresh-blocklists": {
        "task": "apps.blocklists.tasks.blocklists_refresh_task",
        "schedule": env_int("BLOCKLIST_REFRESH_INTERVAL_SECONDS", 3600, minimum=1),
    },
}

WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", False)
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 5, minimum=1)
# Retries wait 2 s, 4 s, 8 s, ... (half of it random) up to an hour each: 12 tries span about 2 hours, and a
# receiver that missed the first try or two still gets the event within seconds.
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12, minimum=1)
WEBHOOK_RETRY_BASE_SECONDS = env_int("WEBHOOK_RETRY_BASE_SECONDS", 2, minimum=1)

# ---- Mirrors: webhook fan-out, acknowledgement deadlines, feed retention (docs/mirror-operations.md) ----
# Deliveries of one event sent at once by the fan-out task (threads), so slow receivers do not hold up the rest.
WEBHOOK_CONCURRENCY = env_int("WEBHOOK_CONCURRENCY", 100, minimum=1)
# A mirror whose last N deliveries all ended failed is disabled and staff are emailed.
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 5, minimum=1)
_DURATION_UNITS = {"m": 60, "h": 3600, "d": 86400}


def env_deadlines(name: str, default: str) -> dict[str, int]:
    """`category=<n><m|h|d>,...` as seconds per category; the default fills categories the value leaves out."""
    result = {}
    for source in (default, os.environ.get(name, "")):
        for item in (part.strip() for part in source.split(",")):
            if not item:
                continue
            category, _, amount = (x.strip() for x in item.partition("="))
            unit = _DURATION_UNITS.get(amount[-1:].lower())
            if not category or unit is None or not amount[:-1].isdigit() or int(amount[:-1]) < 1:
                raise ImproperlyConfigured(
                    f"{name}: {item!r} is not category=<number><m|h|d>, e.g. csam=1h,copyright=72h")
            result[category] = int(amount[:-1]) * unit
    return result


# How long after a version is published each mirror has to acknowledge it applied, by request category
# (the shortest among the version's requests; category names checked against the product's at start-up).
MIRROR_ACK_DEADLINES = env_deadlines(
    "MIRROR_ACK_DEADLINES", "csam=1h,ncii=4h,copyright=72h,privacy=72h,opt_out=168h,other=168h")
# Feed events older than this are pruned (never a release's latest); older cursors get 410 and resync.
FEED_RETENTION_DAYS = env_int("FEED_RETENTION_DAYS", 90, minimum=1)
# Models trained on releases (apps.advisories): each registered subset of sample keys is kept here as a sorted
# array of 64-bit key hashes (<model>-r<release id>.npy), memory-mapped when a blocklist version is checked.
ADVISORY_SUBSETS_DIR = Path(env_str("ADVISORY_SUBSETS_DIR") or DATA_DIR / "advisories" / "subsets").expanduser()


def env_dataset_map(name: str) -> dict[str, str]:
    """Dataset repository ids (as model cards and SPDX documents name them, `org/name` or `org/name@revision`) to
    DATASET/RELEASE: a JSON object, or `repo=dataset/release,repo2=dataset/release`. Strict: a malformed entry,
    a value that is not DATASET/RELEASE or a repository given twice (ignoring case) fails start-up."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    if raw.startswith("{"):
        try:
            pairs = json.loads(raw, object_pairs_hook=list)
        except json.JSONDecodeError as exc:
            raise ImproperlyConfigured(f"{name}: not a JSON object ({exc.msg}, column {exc.colno})") from None
    else:
        pairs = []
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            if "=" not in item:
                raise ImproperlyConfigured(f"{name}: {item!r} is not repo=DATASET/RELEASE, e.g. "
                                           "laion/laion2B-en=laion2b-en/2024-08")
            pairs.append(tuple(x.strip() for x in item.split("=", 1)))
    result: dict[str, str] = {}
    for repo, release in pairs:
        if not isinstance(repo, str) or not isinstance(release, str):
            raise ImproperlyConfigured(f"{name}: {repo!r}: repository ids and releases must be text")
        dataset, _, release_name = release.partition("/")
        if not re.fullmatch(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
                            r"(?:@[A-Za-z0-9._/-]{1,200})?", repo):
            raise ImproperlyConfigured(f"{name}: {repo!r} is not a dataset repository id (org/name)")
        if not dataset or not release_name or "/" in release_name or release != release.strip():
            raise ImproperlyConfigured(f"{name}: {repo}={release!r}: the release must be DATASET/RELEASE")
        if repo.casefold() in {key.casefold() for key in result}:
            raise ImproperlyConfigured(f"{name}: {repo!r} is mapped twice")
        result[repo] = release
    return result


# Which release of ours a dataset named in a model card or SPDX document is (manage.py register_model --from-card,
# --from-spdx; docs/model-advisories.md).
ADVISORY_DATASET_MAP = env_dataset_map("ADVISORY_DATASET_MAP")
CELERY_BEAT_SCHEDULE |= {
    "mirror-ack-reminders": {
        "task": "apps.mirrors.tasks.ack_reminders_task",
        "schedule": env_int("REMINDER_INTERVAL_SECONDS", 3600, minimum=1),
    },
    "feed-prune": {"task": "apps.mirrors.tasks.feed_prune_task", "schedule": 86400},
}
# Advisories unanswered past their deadline: staff are emailed once about each (apps.advisories.notify).
CELERY_BEAT_SCHEDULE |= {
    "advisory-escalations": {
        "task": "apps.advisories.tasks.advisory_escalations_task",
        "schedule": env_int("REMINDER_INTERVAL_SECONDS", 3600, minimum=1),
    },
}

# ---- Public intake web form (apps.intake: /report/ and /report/status/) ----
# POSTs allowed per client IP (REMOTE_ADDR) per hour, counted in Django's cache. The default
# cache is per-process memory; production with several web processes sets CACHE_URL to a
# Redis database of its own (not the broker's: clearing the cache empties that database).
CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} must be a redis:// URL, e.g. redis://127.0.0.1:6379/1")
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL,
                          "KEY_PREFIX": "takedown"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Reverse proxies in front of the app (each appends to X-Forwarded-For); 0 = clients connect directly.
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0, minimum=0)
INTAKE_REPORTS_PER_HOUR = env_int("INTAKE_REPORTS_PER_HOUR", 10, minimum=1)
INTAKE_STATUS_CHECKS_PER_HOUR = env_int("INTAKE_STATUS_CHECKS_PER_HOUR", 30, minimum=1)

# Email: reminders to staff and notices to requesters. With nothing set, messages are
# written as files under DATA_DIR/mail (the embedded default); set EMAIL_HOST and the other
# SMTP settings with EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
_email_module, _, _email_class = EMAIL_BACKEND.rpartition(".")
try:
    if not _email_module or not hasattr(importlib.import_module(_email_module), _email_class):
        raise ImportError(_email_class)
except ImportError:
    raise ImproperlyConfigured(f"EMAIL_BACKEND={EMAIL_BACKEND!r} is not an importable email backend class, e.g. "
                               "django.core.mail.backends.smtp.EmailBackend") from None
EMAIL_FILE_PATH = DATA_DIR / "mail"
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "takedown@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # The folder broker has no host; kombu warns about it on every connection.
        "kombu.connection": {"level": "ERROR"},
        # One line per webhook sent, at INFO: each attempt is recorded in the database already.
        "httpx": {"level": "WARNING"},
        # django-axes announces its configuration at every start; its warnings (failed logins) stay.
        "axes.apps": {"level": "WARNING"},
    },
}
