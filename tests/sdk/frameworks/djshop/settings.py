"""Settings of the Django shop. LOGGING is the project's own, dictConfig'd by django.setup()
after Django's DEFAULT_LOGGING (each closes every handler there is): console handlers of its
own loggers, whose records also propagate to the root logger, where the telemetry handler
is (a LOGGING with a "root" section would remove it, with either SDK set up in code)."""

from pathlib import Path

import shop

SECRET_KEY = "frameworks-test"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "djshop.urls"
INSTALLED_APPS = ["djshop"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": shop.DB_PATH}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
# The Flask and FastAPI shops' template: the same text in Django's template language.
TEMPLATES = [
    {"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [Path(__file__).parents[1] / "templates"]}
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "{levelname} {name}: {message}", "style": "{"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "shop": {"handlers": ["console"], "level": "DEBUG"},
        "django": {"handlers": ["console"], "level": "INFO"},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
