# Two commands do all the set-up: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test demo lint install chromium mailservers migrate messages bench load screenshots

$(BIN)/crm: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/crm

migrate: install
	$(BIN)/crm migrate

run: migrate
	$(BIN)/crm init
	$(BIN)/crm serve --host $(HOST) --port $(PORT)

demo: migrate
	$(BIN)/crm init
	$(BIN)/crm demo
	$(BIN)/crm serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium; never a downloaded browser build.
chromium:
	@[ -x /usr/bin/chromium ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# The e-mail tests talk to a real Dovecot (IMAP) and an SMTP server that delivers into it
# (tests/mailservers.py); they keep running after the tests.
mailservers: install
	@[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/lmtp ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd dovecot-lmtpd; }
	$(BIN)/python -m tests.mailservers start

test: install chromium mailservers
	$(BIN)/pytest

# The user guide's pictures (docs/images), taken by the browser tests.
screenshots: install chromium
	CRM_GUIDE_SCREENSHOTS=1 $(BIN)/pytest -m browser tests/browser/test_home.py tests/browser/test_accessibility.py \
		tests/browser/test_layout.py tests/browser/test_charts.py tests/browser/test_privacy.py

# The benchmark: SIZE=S|M|L, DB=sqlite|postgres. Data is generated once, then reused.
SIZE ?= S
DB ?= sqlite
bench: install
	$(BIN)/python bench/run.py --size $(SIZE) --db $(DB)

# The load test on the benchmark's data: 8 users for 60 s.
load: install
	$(BIN)/python bench/load.py --size $(SIZE) --db $(DB)

lint: install
	$(BIN)/ruff check crm tests migrations bench
	$(BIN)/ruff format --check crm tests migrations bench

# After adding UI strings: extract them, merge into the German catalogue, then translate
# every new entry in crm/translations/de/LC_MESSAGES/messages.po (a test checks it).
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --sort-output -o var/messages.pot .
	$(BIN)/pybabel update -i var/messages.pot -d crm/translations --no-fuzzy-matching --ignore-obsolete
