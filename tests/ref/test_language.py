"""lstm_ref.language: the sentences follow the grammar, and the floor is the generator's own probability.

Oracle: a parser written here from the grammar's rules, which reads a window
token by token, keeps the numbers of the open noun phrases, and says which
tokens may come next and with what probability; and frequencies counted over
many draws.
"""

import numpy as np
import pytest

from lstm_ref import language as L

P_RELATIVE, P_ADJECTIVE, MAX_DEPTH = 0.5, 0.3, 3


def kind(token):
    if token == L.END:
        return "end"
    if token == L.THAT:
        return "that"
    if token < L.FIRST_NOUN[L.SINGULAR]:
        return "adjective"
    if token < L.FIRST_VERB[L.SINGULAR]:
        return "noun"
    return "verb"


def number(token):
    """0 or 1 for a noun or a verb."""
    if kind(token) == "noun":
        return int(token >= L.FIRST_NOUN[L.PLURAL])
    return int(token >= L.FIRST_VERB[L.PLURAL])


def next_probability(previous, open_numbers, token, p_relative=P_RELATIVE, p_adjective=P_ADJECTIVE,
                     max_depth=MAX_DEPTH):
    """The grammar's probability of ``token`` after ``previous`` with these noun phrases open."""
    if kind(previous) in ("end", "that", "adjective"):  # a noun phrase starts
        if kind(token) == "adjective":
            return p_adjective / 4
        return (1 - p_adjective) / 8 if kind(token) == "noun" else 0.0
    if kind(previous) == "noun":
        relative = p_relative if len(open_numbers) < max_depth else 0.0
        if kind(token) == "that":
            return relative
        return (1 - relative) / 4 if kind(token) == "verb" and number(token) == open_numbers[-1] else 0.0
    if open_numbers:  # after a verb, another verb closes the next open phrase
        return 0.25 if kind(token) == "verb" and number(token) == open_numbers[-1] else 0.0
    return 1.0 if token == L.END else 0.0


def parse(window):
    """The probability of each token after the first, by the grammar; raises if a token is impossible."""
    open_numbers, probabilities = [], []
    for previous, token in zip(window[:-1], window[1:]):
        if kind(previous) == "noun":
            open_numbers.append(number(previous))
        if kind(previous) == "verb":
            open_numbers.pop()
        probability = next_probability(previous, open_numbers, token)
        assert probability > 0, f"{L.text(window)}: {L.VOCABULARY[token]} cannot follow here"
        probabilities.append(probability)
    return np.array(probabilities)


def test_every_window_follows_the_grammar_and_the_floor_is_its_probability():
    windows, log_probs = L.sentences(300, 40, seed=1)
    assert windows.shape == (41, 300) and log_probs.shape == (40, 300)
    for n in range(windows.shape[1]):
        # A window starts at a sentence's start: read as if after ".".
        probabilities = parse(np.concatenate([[L.END], windows[:, n]]))
        np.testing.assert_allclose(np.exp(log_probs[:, n]), probabilities[1:], rtol=1e-12)
    assert L.floor(log_probs) == pytest.approx(-log_probs.mean())


def test_frequencies_match_the_settings():
    windows, _ = L.sentences(2000, 30, seed=2, p_relative=0.4, p_adjective=0.2, max_depth=2)
    after_first_noun, at_phrase_start = [], []
    for n in range(windows.shape[1]):
        open_count, previous = 0, L.END
        for token in windows[:, n]:
            if kind(previous) in ("end", "that"):
                at_phrase_start.append(kind(token) == "adjective")
            if kind(previous) == "noun":
                open_count += 1
                if open_count == 1:
                    after_first_noun.append(kind(token) == "that")
            if kind(previous) == "verb":
                open_count -= 1
            previous = token
    # "that" follows the first noun of a sentence with probability p_relative; a phrase opens
    # with an adjective with probability p_adjective (thousands of draws: a few hundredths apart).
    assert abs(np.mean(after_first_noun) - 0.4) < 0.03
    assert abs(np.mean(at_phrase_start) - 0.2) < 0.03


def test_depth_one_has_no_relative_clause_and_a_known_floor():
    windows, log_probs = L.sentences(50, 20, seed=3, max_depth=1, p_adjective=0.0)
    assert L.THAT not in windows
    # noun (ln 8), verb (ln 4), "." (certain): every sentence is three tokens
    assert np.allclose(np.sort(np.unique(-log_probs)), [0.0, np.log(4), np.log(8)])


def test_verbs_agree_with_their_nouns():
    windows, _ = L.sentences(200, 40, seed=4)
    for n in range(windows.shape[1]):
        open_numbers = []
        for token in windows[:, n]:
            if kind(token) == "noun":
                open_numbers.append(number(token))
            elif kind(token) == "verb" and open_numbers:
                assert number(token) == open_numbers.pop()
    numbers = L.verb_number(windows)
    assert set(np.unique(numbers)) == {-1, 0, 1}


def test_seeds_repeat_and_differ():
    first, _ = L.sentences(5, 10, seed=7)
    again, _ = L.sentences(5, 10, seed=7)
    other, _ = L.sentences(5, 10, seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("argument, value, message", [
    ("num_windows", 0, "num_windows must be an integer >= 1, got 0"),
    ("length", 2.5, "length must be an integer >= 1, got 2.5"),
    ("p_relative", 1.0, r"p_relative must be in \[0, 1\), got 1.0"),
    ("p_adjective", -0.1, r"p_adjective must be in \[0, 1\), got -0.1"),
    ("max_depth", 0, "max_depth must be an integer >= 1, got 0"),
])
def test_bad_settings_are_named(argument, value, message):
    settings = {"num_windows": 2, "length": 5, argument: value}
    with pytest.raises(ValueError, match=message):
        L.sentences(**settings)
