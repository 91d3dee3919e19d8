# The one entry point. On a fresh clone: `make book`, then `make test`.
# Every target creates the environment in .venv first if it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the pins change.
INSTALLED := $(VENV)/.installed-stamp
JB_FLAGS := -W -n --keep-going
CLASSROOM := _build/classroom

.PHONY: help book test classroom assignments bench check-pages browser clean distclean

help:
	@echo "make book         build the self-study book into _build/html"
	@echo "make test         run the whole test suite (builds the book in a temporary folder)"
	@echo "make classroom    build the classroom edition (no solutions) into $(CLASSROOM)/_build/html"
	@echo "make assignments  regenerate solutions/, exercises/ and worked/ from lstm_course/assignments/"
	@echo "make bench        time lstm_ref against torch.nn.LSTM"
	@echo "make check-pages  open every page of _build/html in Chromium at 1280 and 390 px and measure it"
	@echo "make clean        remove what was built (keeps .venv); distclean removes .venv too"

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[all]'
	touch $@

book: $(INSTALLED)
	$(BIN)/jupyter-book build . $(JB_FLAGS)

classroom: $(INSTALLED)
	mkdir -p $(CLASSROOM)
	$(BIN)/python tools/classroom_config.py --cache _build/.jupyter_cache > $(CLASSROOM)/_config.yml
	$(BIN)/jupyter-book build . $(JB_FLAGS) --toc _toc_classroom.yml \
		--config $(CLASSROOM)/_config.yml --path-output $(CLASSROOM)

test: $(INSTALLED) browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The page check needs a browser (Debian's chromium; Playwright downloads none) and
# MathJax 3 (from npm: the check runs offline, the published book takes it from a CDN).
CHROMIUM := /usr/bin/chromium
MATHJAX := _build/mathjax-3.2.2.tgz

browser: $(CHROMIUM) $(MATHJAX)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "make check-pages needs Chromium at $(CHROMIUM): run 'apt-get install chromium' as root"; exit 1; fi

$(MATHJAX):
	@mkdir -p $(@D)
	@command -v npm >/dev/null || { echo "make check-pages needs npm to fetch MathJax 3: install Node.js and npm"; exit 1; }
	cd $(@D) && npm pack --silent mathjax@3.2.2 >/dev/null

check-pages: $(INSTALLED) browser
	$(BIN)/python tools/check_pages.py --html _build/html --mathjax $(MATHJAX)

assignments: $(INSTALLED)
	$(BIN)/python -m lstm_course.generate

bench: $(INSTALLED)
	$(BIN)/python bench/bench_lstm.py

clean:
	rm -rf _build nbgrader_work lab_results build dist *.egg-info .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
