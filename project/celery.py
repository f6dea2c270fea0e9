"""The Celery application: Redis when REDIS_URL is set, a broker-free folder queue otherwise."""
import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

from apps.events.worker import Heartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# The folder queue's URL scheme, known before any connection is made: every process that loads the settings
# imports this module first (project/__init__.py).
TRANSPORT_ALIASES["folder"] = "apps.core.folder_broker:Transport"

app = Celery("takedown")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker writes a heartbeat, so the admin shows a worker that died or never started.
app.steps["worker"].add(Heartbeat)
