# The one entry point. On a fresh clone: `make book`, then `make test`.
# Every target creates the environment in .venv first if it is missing.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Reinstall only when the dependencies or their pins change.
INSTALLED := $(VENV)/.installed-stamp
JB_FLAGS := -W -n --keep-going
CLASSROOM := _build/classroom

.PHONY: help book test classroom assignments notebooks bench sandbox check-pages browser clean distclean

help:
	@echo "make book         build the self-study book into _build/html"
	@echo "make test         run the whole test suite (builds the book in a temporary folder)"
	@echo "make classroom    build the classroom edition (no solutions) into $(CLASSROOM)/_build/html"
	@echo "make assignments  regenerate solutions/, exercises/ and worked/ from lstm_course/assignments/"
	@echo "make notebooks    regenerate notebooks/, the chapters as .ipynb for Colab"
	@echo "make bench        time lstm_ref against torch.nn.LSTM"
	@echo "make sandbox      install bubblewrap, which grading runs every submission in"
	@echo "make check-pages  open every page of _build/html in Chromium at 1280 and 390 px and measure it"
	@echo "make clean        remove what was built (keeps .venv); distclean removes .venv too"

# uv installs the environment in seconds where pip takes more than a minute; pip only
# installs uv. uv does not read pip's configuration, so where pip is told to look for
# wheels in a folder (find-links: a machine that keeps PyTorch's CPU-only build on its
# disk), uv is told the same, unless UV_FIND_LINKS is already set.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt uv
	links="$${UV_FIND_LINKS:-$$($(BIN)/python -m pip config get global.find-links 2>/dev/null)}"; \
	UV_FIND_LINKS="$$links" $(BIN)/uv pip install --quiet --python $(BIN)/python \
		-c constraints.txt -e '.[all]'
	touch $@

book: $(INSTALLED)
	$(BIN)/jupyter-book build . $(JB_FLAGS)

classroom: $(INSTALLED)
	mkdir -p $(CLASSROOM)
	$(BIN)/python tools/classroom_config.py --cache _build/.jupyter_cache > $(CLASSROOM)/_config.yml
	$(BIN)/jupyter-book build . $(JB_FLAGS) --toc _toc_classroom.yml \
		--config $(CLASSROOM)/_config.yml --path-output $(CLASSROOM)

test: $(INSTALLED) sandbox browser
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=12

# Grading runs every submission in a bubblewrap sandbox (a system package): installed
# here when we are root with apt, else one line that says what to install.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "grading needs bubblewrap: install it (Debian/Ubuntu: sudo apt-get install bubblewrap)"; exit 1; \
	  fi; }


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

notebooks: $(INSTALLED)
	$(BIN)/python tools/notebooks.py

bench: $(INSTALLED)
	$(BIN)/python bench/bench_lstm.py

clean:
	rm -rf _build nbgrader_work lab_results build dist *.egg-info .pytest_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
