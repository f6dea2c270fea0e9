from django.db import migrations

# Every staff role reads the audit trail (what a csam or ncii request names stays masked for those without the
# restricted role: apps/audit/admin.py); before, only legal and admin could open it.
ROLES = ("intake", "reviewer")


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view = Permission.objects.filter(content_type__app_label="audit", codename="view_auditevent").first()
    if view is None:
        return
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.add(view)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*Permission.objects.filter(content_type__app_label="audit",
                                                            codename="view_auditevent"))


class Migration(migrations.Migration):
    dependencies = [("removals", "0007_removal_request_flood_hold"), ("audit", "0003_auditevent_mac")]
    operations = [migrations.RunPython(grant, revoke)]
