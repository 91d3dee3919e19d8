"""Answers worth a human's reading: code that is, token for token, the reference's or the course's own.

A grade cannot tell a copied answer from a written one: both are right. What it can do
is point the instructor at answers whose code *is* the reference's or the published
solution's, whatever the comments say. Each answer cell is reduced to its tokens
(comments, layout, numbers and strings dropped or blanked) and compared with the
reference function of the same name and with the course's solution: an answer is
flagged ``review`` when its tokens match one almost exactly, or when they do with every
name blanked (a copy with its variables renamed). Short answers are never flagged: a
one-line tanh step is the same line for everyone, and canonical loops written
independently come close (measured on tests/answers.py: up to 0.93 with names, 0.95
without), so the bars sit above that.
"""

import difflib
import inspect
import io
import keyword
import tokenize
from functools import lru_cache

SAME_WITH_NAMES = 0.97  # SequenceMatcher ratio of the token streams, names kept
SAME_SHAPE = 0.99  # the same, every name blanked
LONG_ENOUGH = 100  # tokens: below this, right answers coincide by necessity


def tokens(source, blank_names=True):
    """The shape of the code: keywords, operators and attribute names; other names (if asked),
    numbers and strings blanked; comments and layout dropped."""
    shape, after_dot = [], False
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if token.type == tokenize.NAME:
                kept = not blank_names or keyword.iskeyword(token.string) or after_dot
                shape.append(token.string if kept else "n")
            elif token.type == tokenize.NUMBER:
                shape.append("0")
            elif token.type == tokenize.STRING:
                shape.append("s")
            else:
                shape.append(token.string)
            after_dot = token.string == "."
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return shape


@lru_cache(maxsize=None)
def _originals(assignment, name):
    """(label, source) of the code an answer to ``name`` may have been copied from."""
    import lstm_ref
    from lstm_course.generate import SOURCES, parse_source

    found = []
    for module in (lstm_ref.rnn, lstm_ref.lstm, lstm_ref.gru, lstm_ref.activations, lstm_ref.gradcheck):
        function = getattr(module, name, None)
        if callable(function):
            found.append((f"{module.__name__}.{name}", inspect.getsource(function)))
    path = SOURCES / f"{assignment}.md"
    if path.exists():
        for spec in parse_source(path.read_text(encoding="utf-8")):
            if spec["kind"] == "solution" and spec["id"] == name:
                found.append(("the course's published solution", spec["source"]))
    return found


def _ratio(a, b):
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def similar_origin(assignment, name, source):
    """'lstm_ref.rnn.rnn_forward (98 %)' if the answer's code is that original's, else None."""
    if len(tokens(source)) < LONG_ENOUGH:
        return None
    for label, original in _originals(assignment, name):
        with_names = _ratio(tokens(source, blank_names=False), tokens(original, blank_names=False))
        shape = _ratio(tokens(source), tokens(original))
        if with_names >= SAME_WITH_NAMES or shape >= SAME_SHAPE:
            return f"{label} ({max(with_names, shape):.0%})"
    return None
