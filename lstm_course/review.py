"""Answers worth a human's reading: code that is, token for token, the reference's or the course's own.

A grade cannot tell a copied answer from a written one: both are right. What it can do
is point the instructor at answers whose code *is* the reference's or the published
solution's, whatever the comments and names say. Each answer cell is reduced to its
tokens with names, numbers and strings blanked (attribute names such as ``.T`` or
``np.tanh`` kept: they carry the computation), then compared with the reference
function of the same name and with the course's solution; long answers that match one
closely are flagged ``review``. Short answers are never flagged: a one-line tanh step
is the same line for everyone.
"""

import difflib
import inspect
import io
import keyword
import tokenize
from functools import lru_cache

SIMILAR = 0.85  # SequenceMatcher ratio of the token streams
LONG_ENOUGH = 80  # tokens: below this, right answers coincide by necessity


def tokens(source):
    """The shape of the code: keywords, operators and attribute names; other names, numbers, strings blanked."""
    shape, after_dot = [], False
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if token.type == tokenize.NAME:
                shape.append(token.string if keyword.iskeyword(token.string) or after_dot else "n")
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
    """(label, tokens) of the code an answer to ``name`` may have been copied from."""
    import lstm_ref
    from lstm_course.generate import SOURCES, parse_source

    found = []
    for module in (lstm_ref.rnn, lstm_ref.lstm, lstm_ref.gru, lstm_ref.activations, lstm_ref.gradcheck):
        function = getattr(module, name, None)
        if callable(function):
            found.append((f"{module.__name__}.{name}", tuple(tokens(inspect.getsource(function)))))
    path = SOURCES / f"{assignment}.md"
    if path.exists():
        for spec in parse_source(path.read_text(encoding="utf-8")):
            if spec["kind"] == "solution" and spec["id"] == name:
                found.append(("the course's published solution", tuple(tokens(spec["source"]))))
    return found


def similar_origin(assignment, name, source):
    """'lstm_ref.rnn.rnn_forward (91 %)' if the answer's code is that original's, else None."""
    mine = tokens(source)
    if len(mine) < LONG_ENOUGH:
        return None
    for label, original in _originals(assignment, name):
        ratio = difflib.SequenceMatcher(None, mine, original, autojunk=False).ratio()
        if ratio >= SIMILAR:
            return f"{label} ({ratio:.0%})"
    return None
