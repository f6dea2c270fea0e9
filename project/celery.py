"""The Celery application: Redis when REDIS_URL is set, a broker-free folder queue otherwise."""
import os

from celery import Celery

from apps.events.worker import Heartbeat

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("takedown")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Each worker writes a heartbeat, so the admin shows a worker that died or never started.
app.steps["worker"].add(Heartbeat)
