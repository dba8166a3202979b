"""The Django shop of tests/sdk/test_frameworks.py (project and app in one package): the ORM
on sqlite, Django templates, the project's own LOGGING. Served by django_serve.py."""
