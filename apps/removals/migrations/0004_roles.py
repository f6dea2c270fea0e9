from django.db import migrations

# Model permissions each role's group gets; restricted adds visibility, not permissions.
_VIEW = [
    "removals.view_removalrequest", "removals.view_identifier", "removals.view_approval",
    "removals.view_hotlinereport", "removals.view_dmcanotice", "removals.view_counternotice",
    "removals.view_erasureextension", "removals.view_domainclaim",
    "datasets.view_dataset", "datasets.view_release", "datasets.view_shard",
    "matching.view_match", "matching.view_allowlistentry", "blocklists.view_blocklistversion",
    "mirrors.view_mirror", "mirrors.view_acknowledgement", "mirrors.view_feedevent",
    "mirrors.view_webhookdelivery",
]
ROLE_PERMISSIONS = {
    "intake": [*_VIEW, "removals.add_removalrequest", "removals.change_removalrequest"],
    "reviewer": [*_VIEW, "removals.add_removalrequest", "removals.change_removalrequest",
                 "matching.add_allowlistentry", "matching.change_allowlistentry"],
    "legal": [*_VIEW, "removals.add_removalrequest", "removals.change_removalrequest",
              "removals.add_counternotice", "removals.change_counternotice", "removals.add_erasureextension",
              "removals.add_hotlinereport", "removals.change_dmcanotice", "audit.view_auditevent"],
    "restricted": [],
    "admin": "all",
}


def make_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for config in apps.get_app_configs():
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if names == "all":
            group.permissions.set(Permission.objects.all())
            continue
        wanted = []
        for name in names:
            app_label, codename = name.split(".")
            wanted += list(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("removals", "0003_intake_and_legal_duties"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("audit", "0001_initial"),
        ("datasets", "0003_release_caught_up"),
        ("matching", "0002_allow_list"),
        ("blocklists", "0001_initial"),
        ("mirrors", "0001_initial"),
        ("intake", "0001_initial"),
    ]
    operations = [migrations.RunPython(make_roles, migrations.RunPython.noop)]
