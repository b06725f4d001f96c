# Two commands on a fresh machine with Python >= 3.11 and make:
#   make run    set up .venv, migrate, collect static files, start gunicorn on $PORT (3000) and the
#               analysis worker (manage.py serve runs both; Ctrl-C stops both)
#   make test   set up .venv with the test tools, then lint, check migrations and run the whole suite,
#               in parallel (pytest-xdist, one worker per core up to 4; TEST_WORKERS=1 for one)
#   make test-fast  the developer's loop: the suite without the `slow` tests (real servers), in parallel
#   make test-postgres   the tests that touch the database again, on a throwaway PostgreSQL cluster

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export PORT

.PHONY: run test test-fast test-postgres bench lint fmt check clean

# pytest-xdist workers: one per core, at most 4 (most slow tests are subprocesses that wait on each other).
# loadgroup keeps a module's tests on one worker when they share a module-scoped server (tests/conftest.py).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup

# requirements.txt only: what the server needs.
$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

# Plus pytest, ruff and PyAV.
$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# A random Django secret key, made once and kept out of git. The settings read it when neither
# DJANGO_SECRET_KEY nor DJANGO_SECRET_KEY_FILE is set, so manage.py works in the checkout without exporting it.
.secret_key: | $(VENV)/.runtime
	umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

run: $(VENV)/.runtime .secret_key
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput --verbosity 0 && \
	exec $(PY) manage.py serve

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Everything CI checks: lint, Django's system checks, no missing migration, the test suite.
test: lint $(VENV)/.dev
	DJANGO_SETTINGS_MODULE=camsite.test_settings $(PY) manage.py check --fail-level WARNING
	DJANGO_SETTINGS_MODULE=camsite.test_settings $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest $(PYTEST_PARALLEL)

# Everything but the tests marked slow (real gunicorn, browsers, installs, load): under 2 minutes.
test-fast: $(VENV)/.dev
	$(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow"

# The suite's database tests again on PostgreSQL: each pytest process starts its own throwaway cluster with
# Debian's postgresql (tests/pg.py; apt-get install postgresql), and each server a test starts gets a database
# there. The slow tests (real servers, long captures) run on SQLite only in `make test`, except the fleet
# test, which is PostgreSQL's in both.
test-postgres: $(VENV)/.dev
	CAMSITE_TEST_DB=postgres $(PY) -m pytest $(PYTEST_PARALLEL) -m "not slow"

# Performance figures as one JSON object (needs nginx for the /uploads comparison: apt-get install nginx).
bench: $(VENV)/.dev
	@$(PY) bench/run.py

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
