"""Django settings of the SerialBox the allocation benchmark runs: SQLite, no middleware, DEBUG off."""

import os

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = (
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "quartet_capture",
    "serialbox",
    "rest_framework",
    "random_flavorpack.apps.RandomFlavorpackConfig",
)
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["SERIALBOX_DB"]}}
REST_FRAMEWORK = {"DEFAULT_AUTHENTICATION_CLASSES": ["auth.BenchUser"]}
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "OPTIONS": {}}]
USE_TZ = True
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
