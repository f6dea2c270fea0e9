from django.apps import AppConfig


class RemovalsConfig(AppConfig):
    name = "apps.removals"
    label = "removals"

    def ready(self):
        from apps.audit.visibility import restrict
        from apps.removals import holds
        from apps.removals.selectors import requests_open_ids, requests_restricted

        holds.connect()
        # The audit trail shows the details of csam and ncii requests to restricted staff only.
        restrict("removals.removalrequest", requests_restricted, requests_open_ids)
