"""A pool ``bench`` with one random region over 0 .. 10**9 - 1 (as an nmpa20 serial domain) and the
bench's superuser, in a migrated database."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from random_flavorpack.models import RandomizedRegion  # noqa: E402
from serialbox.models import Pool  # noqa: E402

pool = Pool.objects.create(machine_name="bench", readable_name="bench", active=True, request_threshold=10**9)
RandomizedRegion.objects.create(
    pool=pool,
    readable_name="bench",
    machine_name="benchr",
    active=True,
    order=1,
    min=0,
    max=10**9 - 1,
    start=1,
    current=1,
)
User.objects.create_superuser("bench", "bench@example.com", "bench")
