"""A small synthetic language with a long-range agreement, and the best loss any model can reach on it.

Sentences are a noun phrase and its verb, where the noun phrase may hold a
relative clause, which may hold another (centre embedding)::

    cat runs .
    big cats that dog sees chase .              the plural verb agrees with "cats"
    cat that dogs that bird sees chase runs .   verbs close in reverse order

The generator is a small push-down process. A noun is drawn with its number
(singular or plural, each with probability 1/2) after zero or more adjectives,
and its number is pushed; after a noun comes "that" and a new noun phrase (with
probability ``p_relative``, while the depth is below ``max_depth``), or the verb
of the innermost open noun, whose number must agree; after a verb comes the verb
of the next open noun, or "." when none is open. To predict a verb's number a
model must remember the number of a noun seen several tokens before, across a
whole relative clause.

Because the generator is known, the probability it gave each token given
everything before it is known too: :func:`sentences` returns it beside the
tokens. Its mean negative log is the **floor**: the lowest expected
cross-entropy any predictor can reach, the analogue of ln 3 for the i.i.d.
weather. A model's loss minus the floor is what it still has to learn.

NumPy only; everything is generated from a seed.
"""

import numpy as np

from lstm_ref._checks import check_int, check_number

NOUNS_PER_NUMBER = 4
VERBS_PER_NUMBER = 4
ADJECTIVES = 4
SINGULAR, PLURAL = 0, 1

# The vocabulary, in the order of the token ids: ".", "that", 4 adjectives, 4 singular
# nouns, 4 plural nouns, 4 singular verbs, 4 plural verbs.
VOCABULARY = (
    (".", "that")
    + ("big", "old", "red", "shy")
    + ("cat", "dog", "bird", "fox")
    + ("cats", "dogs", "birds", "foxes")
    + ("runs", "sees", "sings", "chases")
    + ("run", "see", "sing", "chase")
)
END, THAT = 0, 1
FIRST_ADJECTIVE = 2
FIRST_NOUN = {SINGULAR: FIRST_ADJECTIVE + ADJECTIVES, PLURAL: FIRST_ADJECTIVE + ADJECTIVES + NOUNS_PER_NUMBER}
FIRST_VERB = {SINGULAR: FIRST_NOUN[PLURAL] + NOUNS_PER_NUMBER, PLURAL: FIRST_NOUN[PLURAL] + 2 * NOUNS_PER_NUMBER}
VOCABULARY_SIZE = len(VOCABULARY)


def is_verb(tokens):
    """True where a token is a verb (either number): the tokens whose prediction needs the agreement."""
    tokens = np.asarray(tokens)
    return (tokens >= FIRST_VERB[SINGULAR]) & (tokens < FIRST_VERB[PLURAL] + VERBS_PER_NUMBER)


def verb_number(tokens):
    """The number of each verb token, SINGULAR (0) or PLURAL (1); −1 where the token is no verb."""
    tokens = np.asarray(tokens)
    return np.where(is_verb(tokens), (tokens >= FIRST_VERB[PLURAL]).astype(int), -1)


def _noun_phrase(rng, p_adjective):
    """Adjectives, then a noun: (tokens, log-probabilities given the prefix, number)."""
    tokens, log_probs = [], []
    # At the start of a noun phrase: an adjective (each ADJECTIVES-th of p_adjective) or a noun.
    while rng.random() < p_adjective:
        tokens.append(FIRST_ADJECTIVE + int(rng.integers(ADJECTIVES)))
        log_probs.append(np.log(p_adjective / ADJECTIVES))
    number = int(rng.integers(2))
    tokens.append(FIRST_NOUN[number] + int(rng.integers(NOUNS_PER_NUMBER)))
    log_probs.append(np.log((1 - p_adjective) / (2 * NOUNS_PER_NUMBER)))
    return tokens, log_probs, number


def _sentence(rng, p_relative, p_adjective, max_depth):
    """One sentence ending in ".": its tokens and the log-probability of each given all before it."""
    tokens, log_probs, open_numbers = [], [], []
    while True:  # open noun phrases, each after a "that" but the first
        phrase, phrase_log_probs, number = _noun_phrase(rng, p_adjective)
        tokens += phrase
        log_probs += phrase_log_probs
        open_numbers.append(number)
        relative_possible = len(open_numbers) < max_depth
        if relative_possible and rng.random() < p_relative:
            tokens.append(THAT)
            log_probs.append(np.log(p_relative))
            continue
        break
    # The verb after the last noun: "that" was possible if the depth allowed it.
    verb_choice = np.log((1 - p_relative if relative_possible else 1.0) / VERBS_PER_NUMBER)
    while open_numbers:
        number = open_numbers.pop()
        tokens.append(FIRST_VERB[number] + int(rng.integers(VERBS_PER_NUMBER)))
        log_probs.append(verb_choice)
        verb_choice = np.log(1.0 / VERBS_PER_NUMBER)  # after a verb, the next verb is certain but for its word
    tokens.append(END)
    log_probs.append(0.0)  # after the outermost verb, "." is certain
    return tokens, log_probs


def sentences(num_windows, length, seed=0, p_relative=0.5, p_adjective=0.3, max_depth=3):
    """Windows of ``length + 1`` tokens, each starting at the start of a sentence.

    Each window is cut from sentences drawn one after another until it is long
    enough; so the generator's state at the window's start is known (nothing
    open) and every token's probability given the window's earlier tokens is the
    generator's own. Inputs are ``windows[:-1]``, targets ``windows[1:]``.

    Parameters
    ----------
    num_windows : int
        N, the number of windows.
    length : int
        T, the number of targets per window.
    seed : int or numpy Generator
    p_relative : float in [0, 1)
        The probability of "that" after a noun, while the depth allows it.
    p_adjective : float in [0, 1)
        The probability of one more adjective before a noun.
    max_depth : int >= 1
        The most noun phrases open at once (1: no relative clauses).

    Returns
    -------
    windows : (T + 1, N) int64 array
        Token ids, time-major.
    log_probs : (T, N) float64 array
        log p(windows[t + 1] | windows[: t + 1]) under the generator: the floor of
        each target is its negative.
    """
    num_windows = check_int("num_windows", num_windows, minimum=1)
    length = check_int("length", length, minimum=1)
    max_depth = check_int("max_depth", max_depth, minimum=1)
    for name, value in (("p_relative", p_relative), ("p_adjective", p_adjective)):
        if not 0 <= check_number(name, value) < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    windows = np.empty((length + 1, num_windows), dtype=np.int64)
    log_probs = np.empty((length, num_windows))
    for n in range(num_windows):
        tokens, token_log_probs = [], []
        while len(tokens) < length + 1:
            sentence_tokens, sentence_log_probs = _sentence(rng, p_relative, p_adjective, max_depth)
            tokens += sentence_tokens
            token_log_probs += sentence_log_probs
        windows[:, n] = tokens[: length + 1]
        # The first token of a window is a sentence's first: its probability is not a target's.
        log_probs[:, n] = token_log_probs[1 : length + 1]
    return windows, log_probs


def floor(log_probs):
    """The best possible mean cross-entropy on these targets, in nats: −mean(log_probs)."""
    return float(-np.mean(log_probs))


def text(tokens):
    """Token ids as words, e.g. "big cats that dog sees chase ."."""
    return " ".join(VOCABULARY[int(token)] for token in np.ravel(tokens))
