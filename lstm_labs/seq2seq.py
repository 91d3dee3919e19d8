"""Sequence to sequence, with and without attention, on reversing a sequence of symbols.

The task: read ``s_1 .. s_L`` (symbols drawn uniformly from ``num_symbols``, the
length ``L`` uniform in ``[min_length, max_length]``) and write ``s_L .. s_1`` and
an end token. Held-out sequences come from a part of the sequence space that
training never draws from (:func:`is_heldout`), so held-out accuracy measures the
rule, not a memory of seen sequences.

The model is an LSTM encoder-decoder (Sutskever et al. 2014): the encoder's last
state starts the decoder, which reads its previous output token and writes the
next. With ``attention=True`` the decoder also reads, at every step, a weighted
mean of the encoder's states (Bahdanau et al. 2015), with weights from an additive
score::

    s_{t,j} = w^T tanh(W_q h_{t-1} + W_k h̄_j + b_k)   (h̄_j: encoder state j)
    α_{t,j} = softmax_j(s_{t,j})                      (over the real positions only)
    μ_t     = Σ_j α_{t,j} h̄_j

Tokens are time-major like the rest of the labs: ``source`` is ``(S, N)`` integer
tokens padded with ``PAD``. Token ids: ``PAD = 0``, ``BOS = 1`` (the decoder's
first input), ``EOS = 2``, and symbol ``m`` (from 0) is token ``3 + m``.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_ref._checks import check_choice, check_choices, check_int
from lstm_labs.results import provenance
from lstm_labs.training import choose_device, seed_everything, train_on_stream

PAD, BOS, EOS = 0, 1, 2
FIRST_SYMBOL = 3
# cross_entropy skips targets equal to this (its default ignore_index).
IGNORE = -100
# A sequence is held out when its hash is 0 modulo this: a fifth of the sequence space.
HELDOUT_MODULUS = 5


# ---------------------------------------------------------------------------
# the task


def _sequence_hash(symbols, lengths):
    """A fixed hash of each column of ``symbols`` (S, N) up to its length: an int per sequence."""
    weights = np.array([7919 ** position % 1_000_003 for position in range(symbols.shape[0])], dtype=np.int64)
    inside = np.arange(symbols.shape[0])[:, None] < lengths[None, :]
    return ((symbols + 1) * inside * weights[:, None]).sum(axis=0) + 31 * lengths


def is_heldout(symbols, lengths):
    """Whether each sequence (a column of ``symbols`` (S, N), ``lengths`` (N,)) is in the held-out part.

    The rule is fixed: a hash of the symbols and the length, modulo 5. Training
    draws only sequences outside it, the held-out set only sequences inside it.
    """
    return _sequence_hash(symbols, lengths) % HELDOUT_MODULUS == 0


def reversal_batch(num_sequences, min_length, max_length, num_symbols=8, rng=None, heldout=False):
    """A batch of the reversal task, as NumPy arrays.

    Returns ``(source, lengths, target)``: ``source`` ``(S, N)`` tokens padded with
    PAD, ``S = max_length``; ``lengths`` ``(N,)``; ``target`` ``(S + 1, N)``, the
    reversed symbols then EOS, padded with PAD. ``heldout`` picks which part of
    the sequence space to draw from (see :func:`is_heldout`).
    """
    num_sequences = check_int("num_sequences", num_sequences, minimum=1)
    min_length = check_int("min_length", min_length, minimum=1)
    max_length = check_int("max_length", max_length, minimum=min_length)
    num_symbols = check_int("num_symbols", num_symbols, minimum=2)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    kept_symbols, kept_lengths, found = [], [], 0
    while found < num_sequences:
        lengths = rng.integers(min_length, max_length + 1, size=2 * num_sequences)
        symbols = rng.integers(0, num_symbols, size=(max_length, 2 * num_sequences))
        keep = is_heldout(symbols, lengths) == heldout
        kept_symbols.append(symbols[:, keep])
        kept_lengths.append(lengths[keep])
        found += int(keep.sum())
    symbols = np.concatenate(kept_symbols, axis=1)[:, :num_sequences]
    lengths = np.concatenate(kept_lengths)[:num_sequences]
    positions = np.arange(max_length)[:, None]
    source = np.where(positions < lengths, symbols + FIRST_SYMBOL, PAD)
    # target[t] = s_{L-t} for t < L (time counted from 0), then EOS at t = L.
    reversed_index = np.clip(lengths[None, :] - 1 - positions, 0, None)
    reversed_symbols = np.take_along_axis(symbols, reversed_index, axis=0) + FIRST_SYMBOL
    target = np.full((max_length + 1, num_sequences), PAD, dtype=np.int64)
    target[:max_length] = np.where(positions < lengths, reversed_symbols, PAD)
    target[lengths, np.arange(num_sequences)] = EOS
    return source.astype(np.int64), lengths.astype(np.int64), target


def teacher_forcing(source, lengths, target):
    """Tensors for one training step: ``((source, lengths, decoder_input), loss_target)``.

    ``decoder_input`` is ``(S + 1, N)``: BOS then the target shifted by one (the
    decoder reads the true previous token, *teacher forcing*). ``loss_target`` is
    the target batch-first, ``(N, S + 1)``, with IGNORE where there is no token,
    the layout ``cross_entropy`` takes beside logits ``(N, V, S + 1)``.
    """
    target = torch.as_tensor(target)
    decoder_input = torch.cat([torch.full_like(target[:1], BOS), target[:-1]])
    loss_target = target.masked_fill(target == PAD, IGNORE).T.contiguous()
    return (torch.as_tensor(source), torch.as_tensor(lengths), decoder_input), loss_target


# ---------------------------------------------------------------------------
# the model


class AdditiveAttention(nn.Module):
    """Bahdanau's additive attention, over the encoder states h̄_j (S, N, H)::

        q_t = W_q h_{t-1},   k_j = W_k h̄_j + b_k,   s_{t,j} = w^T tanh(q_t + k_j),
        α_{t,j} = softmax_j(s_{t,j}) over the real positions,   μ_t = Σ_j α_{t,j} h̄_j.

    ``keys(states)`` computes the k_j ``(S, N, A)`` once per sequence; ``forward``
    then takes the decoder's state ``h_prev`` ``(N, H)``, the keys, the encoder
    ``states`` and ``mask`` ``(S, N)`` (True at real positions), and returns the
    context μ_t ``(N, H)`` and the weights α ``(S, N)``, which sum to 1 over the
    real positions and are 0 at padding.
    """

    def __init__(self, query_size, state_size, attention_size):
        super().__init__()
        self.query = nn.Linear(query_size, attention_size, bias=False)
        self.key = nn.Linear(state_size, attention_size)
        self.score = nn.Linear(attention_size, 1, bias=False)

    def keys(self, states):
        return self.key(states)

    def forward(self, h_prev, keys, states, mask):
        scores = self.score(torch.tanh(self.query(h_prev)[None] + keys)).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=0)
        context = (weights[..., None] * states).sum(dim=0)
        return context, weights


class Seq2Seq(nn.Module):
    """An LSTM encoder-decoder, with additive attention if ``attention``.

    Parameters
    ----------
    num_tokens : V, tokens of source and target (PAD, BOS, EOS and the symbols).
    embedding_size : E, width of the token embeddings.
    hidden_size : H, of the encoder's and the decoder's LSTM.
    attention : read a weighted mean of the encoder states at every step.
    attention_size : A, width of the additive score's hidden layer.
    recurrent_encoder : if False, the encoder "states" are a linear map of each
        token's embedding alone, with no recurrence: attention then sees the
        source symbols but not their order, and the decoder starts from zeros.
    """

    def __init__(self, num_tokens, embedding_size=16, hidden_size=64, attention=True, attention_size=32,
                 recurrent_encoder=True):
        super().__init__()
        for name, value in (("num_tokens", num_tokens), ("embedding_size", embedding_size),
                            ("hidden_size", hidden_size), ("attention_size", attention_size)):
            check_int(name, value, minimum=1)
        if not (attention or recurrent_encoder):
            raise ValueError("a model without attention needs the recurrent encoder: nothing else reaches the decoder")
        context_size = hidden_size if attention else 0
        self.attention = AdditiveAttention(hidden_size, hidden_size, attention_size) if attention else None
        self.source_embedding = nn.Embedding(num_tokens, embedding_size, padding_idx=PAD)
        self.encoder = (nn.LSTM if recurrent_encoder else nn.Linear)(embedding_size, hidden_size)
        self.target_embedding = nn.Embedding(num_tokens, embedding_size, padding_idx=PAD)
        self.decoder = nn.LSTMCell(embedding_size + context_size, hidden_size)
        self.head = nn.Linear(hidden_size + context_size, num_tokens)

    def encode(self, source, lengths):
        """The encoder ``states`` h̄ (S, N, H) (zero at padding), the mask (S, N), and each sequence's last (h, c)."""
        if source.dim() != 2 or lengths.shape != source.shape[1:]:
            raise ValueError(f"source must have shape (S, N) and lengths (N,), got {tuple(source.shape)} "
                             f"and {tuple(lengths.shape)}")
        mask = torch.arange(source.shape[0], device=source.device)[:, None] < lengths[None, :].to(source.device)
        embedded = self.source_embedding(source)
        if isinstance(self.encoder, nn.Linear):
            states = self.encoder(embedded) * mask[..., None]
            zeros = states.new_zeros(states.shape[1:])
            return states, mask, (zeros, zeros)
        # Packed, so that each sequence's last state is that of its own last symbol, not of the padding.
        packed = pack_padded_sequence(embedded, lengths.cpu(), enforce_sorted=False)
        outputs, (h_n, c_n) = self.encoder(packed)
        states, _ = pad_packed_sequence(outputs, total_length=source.shape[0])
        return states, mask, (h_n[0], c_n[0])

    def decode_step(self, token, state, memory):
        """One decoder step from the previous token ``(N,)``: logits ``(N, V)``, the new state, and α ``(S, N)`` or None."""
        states, keys, mask = memory
        inputs = self.target_embedding(token)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(state[0], keys, states, mask)
            inputs = torch.cat([inputs, context], dim=-1)
        h, c = self.decoder(inputs, state)
        readout = h if self.attention is None else torch.cat([h, context], dim=-1)
        return self.head(readout), (h, c), weights

    def _memory(self, source, lengths):
        states, mask, last = self.encode(source, lengths)
        keys = None if self.attention is None else self.attention.keys(states)
        return (states, keys, mask), last

    def forward(self, inputs):
        """Teacher-forced logits, ``(N, V, T)``, from ``inputs = (source, lengths, decoder_input)``.

        ``decoder_input`` is ``(T, N)``; logits come batch-first with the classes
        second, the layout ``torch.nn.functional.cross_entropy`` takes.
        """
        source, lengths, decoder_input = inputs
        memory, state = self._memory(source, lengths)
        logits = []
        for token in decoder_input:
            step_logits, state, _ = self.decode_step(token, state, memory)
            logits.append(step_logits)
        return torch.stack(logits, dim=2)

    @torch.no_grad()
    def greedy(self, source, lengths, steps):
        """Decode ``steps`` tokens, each step reading the model's own previous choice.

        Returns ``tokens`` ``(steps, N)`` and the attention weights ``(steps, S, N)``
        (None without attention).
        """
        memory, state = self._memory(source, lengths)
        token = torch.full_like(lengths, BOS).to(source.device)
        tokens, weights = [], []
        for _ in range(steps):
            logits, state, step_weights = self.decode_step(token, state, memory)
            token = logits.argmax(dim=-1)
            tokens.append(token)
            weights.append(step_weights)
        return torch.stack(tokens), None if self.attention is None else torch.stack(weights)


# ---------------------------------------------------------------------------
# measuring


def reversal_accuracy(model, source, lengths, target):
    """Greedy decoding measured against ``target`` (S + 1, N) (tensors).

    Returns a dict: ``exact`` (the share of sequences whose every token, the EOS
    included, is right), ``per_token`` (the share of right tokens over all
    target tokens), and per length ``L``: ``lengths`` and ``exact_by_length``
    and ``per_token_by_length`` (lists in the order of ``lengths``).
    """
    was_training = model.training
    model.eval()
    tokens, _ = model.greedy(source, lengths, target.shape[0])
    model.train(was_training)
    real = target != PAD
    right = (tokens == target) & real
    exact = (right.sum(dim=0) == real.sum(dim=0))
    per_sequence = right.sum(dim=0).double() / real.sum(dim=0)
    by_length = sorted(set(lengths.tolist()))
    return {"exact": float(exact.double().mean()),
            "per_token": float(right.sum()) / float(real.sum()),
            "lengths": by_length,
            "exact_by_length": [float(exact[lengths == L].double().mean()) for L in by_length],
            "per_token_by_length": [float(per_sequence[lengths == L].mean()) for L in by_length]}


def mirror_alignment(weights, lengths):
    """How closely attention follows the reversal, over the symbol steps of every sequence.

    Output step t (t = 1..L) writes s_{L+1-t}, which was read at source position
    L+1-t: the *mirrored* position. ``weights`` ``(T_out, S, N)``, ``lengths``
    ``(N,)``. Returns ``argmax_share`` (the share of steps whose largest weight is
    on the mirrored position), ``mirror_weight`` (the mean weight there),
    ``near_mirror_weight`` (the mean weight on it and its two neighbours), and
    ``left_weight`` and ``right_weight`` (the mean weight on the neighbour before
    it and after it, 0 where there is none). The end-token step, which reads
    nothing, is left out.
    """
    hits, on_mirror, near_mirror, left, right = [], [], [], [], []
    for n, length in enumerate(lengths.tolist()):
        for step in range(length):
            row = weights[step, :length, n]
            mirror = length - 1 - step  # positions and steps counted from 0
            hits.append(int(row.argmax()) == mirror)
            on_mirror.append(float(row[mirror]))
            near_mirror.append(float(row[max(mirror - 1, 0):mirror + 2].sum()))
            left.append(float(row[mirror - 1]) if mirror > 0 else 0.0)
            right.append(float(row[mirror + 1]) if mirror + 1 < length else 0.0)
    return {"argmax_share": float(np.mean(hits)), "mirror_weight": float(np.mean(on_mirror)),
            "near_mirror_weight": float(np.mean(near_mirror)), "left_weight": float(np.mean(left)),
            "right_weight": float(np.mean(right))}


def accuracy_by_position(model, source, lengths, target, length):
    """Greedy decoding of the sequences of one ``length``: the share right at each output step 1..length."""
    chosen = lengths == length
    if not bool(chosen.any()):
        raise ValueError(f"no sequence of length {length} among lengths {sorted(set(lengths.tolist()))}")
    was_training = model.training
    model.eval()
    tokens, _ = model.greedy(source[:, chosen], lengths[chosen], length)
    model.train(was_training)
    return (tokens == target[:length, chosen]).double().mean(dim=1).tolist()


@torch.no_grad()
def teacher_forced_loss(model, inputs, loss_target):
    """Mean cross-entropy (nats per target token) with teacher forcing, as in training."""
    was_training = model.training
    model.eval()
    loss = torch.nn.functional.cross_entropy(model(inputs), loss_target)
    model.train(was_training)
    return float(loss)


# ---------------------------------------------------------------------------
# the experiment

# label -> how the model differs from Seq2Seq's defaults; the order of every table and legend.
# "2H": twice the scale's hidden size, more parameters than the attention model has.
MODELS = {
    "no attention": {"attention": False},
    "attention": {"attention": True},
    "no attention, 2H": {"attention": False, "hidden_factor": 2},
    "attention, no encoder LSTM": {"attention": True, "recurrent_encoder": False},
}


@dataclass(frozen=True)
class Seq2SeqScale:
    """How much of the seq2seq experiment to run.

    models: labels of MODELS.
    num_symbols: the alphabet; min_length, max_length: lengths L of the sequences.
    seeds: one initialisation and one data stream per seed.
    steps, batch: Adam steps, each on ``batch`` fresh training sequences.
    embedding_size, hidden_size, attention_size: E, H, A.
    heldout_sequences: held-out sequences per seed.
    """

    models: tuple
    num_symbols: int
    min_length: int
    max_length: int
    seeds: tuple
    steps: int
    batch: int
    embedding_size: int
    hidden_size: int
    attention_size: int
    heldout_sequences: int


SCALES = {
    "tiny": Seq2SeqScale(models=("no attention", "attention"), num_symbols=4, min_length=1, max_length=4,
                         seeds=(0,), steps=10, batch=16, embedding_size=8, hidden_size=16, attention_size=8,
                         heldout_sequences=64),
    "book": Seq2SeqScale(models=("no attention", "attention"), num_symbols=8, min_length=1, max_length=10,
                         seeds=(0, 1, 2), steps=300, batch=64, embedding_size=16, hidden_size=32,
                         attention_size=32, heldout_sequences=1000),
    "full": Seq2SeqScale(models=tuple(MODELS), num_symbols=8, min_length=1, max_length=10,
                         seeds=(0, 1, 2, 3, 4), steps=2000, batch=64, embedding_size=16, hidden_size=32,
                         attention_size=32, heldout_sequences=2000),
}


def make_model(label, scale):
    """The model ``label`` of MODELS at the sizes of ``scale`` (a Seq2SeqScale)."""
    check_choice("model", label, MODELS)
    spec = dict(MODELS[label])
    hidden_size = scale.hidden_size * spec.pop("hidden_factor", 1)
    return Seq2Seq(FIRST_SYMBOL + scale.num_symbols, scale.embedding_size, hidden_size,
                   attention_size=scale.attention_size, **spec)


def run_seq2seq(scale="book", seeds=None, models=None, steps=None, lr=0.01, clip_norm=1.0, device="auto",
                show_progress=None, keep_models=False):
    """Train every model of ``models`` (labels of MODELS) for every seed; measure held-out accuracy.

    Arguments left ``None`` come from ``SCALES[scale]``. All models of a seed see
    the same training batches and the same held-out set. Returns a dict ready for
    JSON: ``config``, ``runs`` (model, seed, ``train_loss`` per step, the
    teacher-forced held-out loss, and the accuracies of :func:`reversal_accuracy`)
    and ``provenance``; with ``keep_models``, also ``trained``: ``{(label, seed):
    model}`` (not JSON), with ``heldout``: ``{seed: (source, lengths, target)}``.
    """
    check_choice("scale", scale, SCALES)
    started = time.perf_counter()
    chosen = SCALES[scale]
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    models = chosen.models if models is None else check_choices("models", models, MODELS)
    steps = chosen.steps if steps is None else steps
    device = choose_device(device)
    task = (chosen.min_length, chosen.max_length, chosen.num_symbols)

    def on_device(arrays):
        (source, lengths, decoder_input), loss_target = teacher_forcing(*arrays)
        return (source.to(device), lengths, decoder_input.to(device)), loss_target.to(device)

    runs, trained, heldout_sets = [], {}, {}
    for seed in seeds:
        heldout_arrays = reversal_batch(chosen.heldout_sequences, *task, rng=[seed, 1], heldout=True)
        heldout = on_device(heldout_arrays)
        heldout_target = torch.as_tensor(heldout_arrays[2], device=device)
        heldout_sets[seed] = (heldout[0][0], heldout[0][1], heldout_target)
        for label in models:
            seed_everything(seed)
            model = make_model(label, chosen).to(device)
            stream = np.random.default_rng([seed, 0])  # the same batches for every model

            def next_batch(stream=stream):
                return on_device(reversal_batch(chosen.batch, *task, rng=stream))

            run_started = time.perf_counter()
            history = train_on_stream(model, next_batch, None, steps=steps, lr=lr, clip_norm=clip_norm,
                                      show_progress=show_progress, description=f"{label} seed={seed}")
            run = {"model": label, "seed": seed, "train_loss": history["train_loss"],
                   "heldout_loss": teacher_forced_loss(model, *heldout),
                   **reversal_accuracy(model, heldout[0][0], heldout[0][1], heldout_target),
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "wall_time_s": round(time.perf_counter() - run_started, 3)}
            runs.append(run)
            if keep_models:
                trained[label, seed] = model
            if show_progress is not False:
                print(f"{label} seed={seed}: held-out exact {run['exact']:.3f}, per token {run['per_token']:.3f}, "
                      f"{run['wall_time_s']:.1f} s", flush=True)
    config = {"scale": scale, **asdict(chosen), "models": list(models), "seeds": list(seeds), "steps": steps,
              "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam", "loss": "cross-entropy, teacher forcing",
              "heldout_share_of_sequences": 1 / HELDOUT_MODULUS}
    results = {"lab": "seq2seq", "config": config, "runs": runs, "provenance": provenance(device, started)}
    if keep_models:
        results.update(trained=trained, heldout=heldout_sets)
    return results


# ---------------------------------------------------------------------------
# summaries and figures


def accuracy_summary(runs, key="exact"):
    """Per model, in the order of MODELS: ``(mean, min, max, [value per seed])`` of ``run[key]``."""
    summary = {}
    for label in MODELS:
        values = [run[key] for run in runs if run["model"] == label]
        if values:
            summary[label] = (float(np.mean(values)), min(values), max(values), values)
    return summary


def _final_train_loss(run):
    """The mean training loss of a run's last 50 steps (kept as such in compact results)."""
    if "final_train_loss" in run:
        return run["final_train_loss"]
    return float(np.mean(run["train_loss"][-50:]))


def summary_table(runs):
    """A Markdown table, a row per model: parameters, then "mean (smallest–largest)" over the seeds of
    the exact and per-token held-out accuracy, the training loss of the last 50 steps and the held-out loss."""
    from lstm_labs.results import markdown_table

    def spread(values):
        return f"{np.mean(values):.3f} ({min(values):.3f}–{max(values):.3f})"

    rows = []
    for label in MODELS:
        chosen = [run for run in runs if run["model"] == label]
        if chosen:
            rows.append([label, chosen[0]["parameters"], spread([run["exact"] for run in chosen]),
                         spread([run["per_token"] for run in chosen]),
                         spread([_final_train_loss(run) for run in chosen]),
                         spread([run["heldout_loss"] for run in chosen])])
    header = ["model", "parameters", "exact", "per token", "training loss (last 50 steps)", "held-out loss"]
    return markdown_table(header, rows)


def compact_results(results, digits=4):
    """A smaller copy of ``run_seq2seq``'s results, to keep beside the book.

    Keeps everything but the per-step training losses, of which it keeps the
    mean of the last 50 steps (``final_train_loss``); rounds floats to ``digits``.
    """
    def rounded(value):
        if isinstance(value, float):
            return round(value, digits)
        if isinstance(value, list):
            return [rounded(item) for item in value]
        return value

    runs = []
    for run in results["runs"]:
        kept = {key: rounded(value) for key, value in run.items() if key != "train_loss"}
        kept["final_train_loss"] = round(_final_train_loss(run), digits)
        runs.append(kept)
    return {**results, "runs": runs}


def symbol_text(tokens):
    """Tokens as text: symbols as letters A, B, ..., EOS as '.', PAD as nothing."""
    names = {PAD: "", BOS: "^", EOS: "."}
    return [names.get(int(token), chr(ord("A") + int(token) - FIRST_SYMBOL)) for token in tokens]


def plot_attention(weights, source, lengths, outputs, examples):
    """Heat maps of the attention weights of a few sequences, one panel each, stacked.

    ``weights`` ``(T_out, S, N)``, ``source`` ``(S, N)``, ``lengths`` ``(N,)``,
    ``outputs`` ``(T_out, N)`` (greedy tokens), all tensors; ``examples``: column
    indices. A row is an output step (the token written), a column a source
    position (the token read); darker is more weight.
    """
    import matplotlib.pyplot as plt

    width = plt.rcParams["figure.figsize"][0]
    figure, axes = plt.subplots(len(examples), 1, figsize=(width, 0.8 * width * len(examples)),
                                layout="constrained", squeeze=False)
    for ax, n in zip(axes[:, 0], examples):
        length = int(lengths[n])
        image = ax.imshow(weights[:length + 1, :length, n].cpu().numpy(), cmap="Greys", vmin=0, vmax=1)
        ax.set_xticks(range(length), symbol_text(source[:length, n]))
        ax.set_yticks(range(length + 1), symbol_text(outputs[:length + 1, n]))
        ax.set_xlabel("source symbol (read)")
        ax.set_ylabel("token written")
        ax.set_title(f"length {length}")
        figure.colorbar(image, ax=ax, label="attention weight")
    return figure


def _color(label):
    from lstm_labs.plotting import COLORS

    return {"no attention": COLORS["RNN"], "attention": COLORS["LSTM"], "no attention, 2H": COLORS["bound"],
            "attention, no encoder LSTM": COLORS["chance"]}[label]


def plot_accuracy_by_length(runs, key="exact_by_length"):
    """Held-out accuracy against the length L: a line through the seed means, a dot per seed."""
    from lstm_labs.plotting import new_axes

    ylabel = "exact-sequence accuracy" if key == "exact_by_length" else "per-token accuracy"
    ax = new_axes("Reversal: held-out accuracy against length", "length L of the sequence", ylabel)
    for label in MODELS:
        chosen = [run for run in runs if run["model"] == label]
        if not chosen:
            continue
        lengths = chosen[0]["lengths"]
        values = np.array([run[key] for run in chosen])
        ax.plot(lengths, values.mean(axis=0), color=_color(label), marker="o", label=label)
        for row in values:
            ax.scatter(lengths, row, color=_color(label), s=10, alpha=0.5)
    ax.set_ylim(0, 1.05)
    ax.set_xticks(lengths)
    ax.legend(loc="center left")
    return ax.figure
