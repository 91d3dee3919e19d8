"""Answers to every graded function, written unlike the reference (loops, other formulas).

The integrity and classroom tests use them as what a good student writes: each must
pass its hidden test, which is how we know that a correct answer in another form
earns full marks.
"""
import numpy as np

def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    N, D = x.shape; H = W_hh.shape[0]
    h = np.empty((N, H))
    for n in range(N):
        for j in range(H):
            a = b[j] + sum(W_ih[j, d] * x[n, d] for d in range(D)) + sum(W_hh[j, k] * h_prev[n, k] for k in range(H))
            h[n, j] = np.tanh(a)
    return h, (x, h_prev, W_ih, W_hh, h)

def rnn_step_backward(dh, cache):
    x, h_prev, W_ih, W_hh, h = cache
    da = dh * (1 - h) * (1 + h)
    return da @ W_ih, da @ W_hh, np.einsum("nh,nd->hd", da, x), np.einsum("nh,nk->hk", da, h_prev), da.sum(0)

def rnn_forward(x, h0, W_ih, W_hh, b):
    h = h0; hs = []; caches = []
    for t in range(x.shape[0]):
        h, c = rnn_step_forward(x[t], h, W_ih, W_hh, b)
        hs.append(h); caches.append(c)
    return np.stack(hs), caches

def rnn_backward(dhs, cache):
    T = len(cache)
    dx = [None] * T; dW_ih = 0; dW_hh = 0; db = 0
    dh_next = np.zeros_like(dhs[0])
    for t in reversed(range(T)):
        dxt, dh_next, a, bb, c = rnn_step_backward(dhs[t] + dh_next, cache[t])
        dx[t] = dxt; dW_ih = dW_ih + a; dW_hh = dW_hh + bb; db = db + c
    return np.stack(dx), dh_next, dW_ih, dW_hh, db

def gradient_norms(x, h0, W_ih, W_hh, b):
    hs, _ = rnn_forward(x, h0, W_ih, W_hh, b)
    T = x.shape[0]
    states = [h0] + list(hs)
    norms = [np.linalg.norm(np.ones_like(h0))]
    for k in range(1, T + 1):
        _, cache = rnn_forward(x[T - k:], states[T - k], W_ih, W_hh, b)
        dhs = np.zeros((k,) + h0.shape); dhs[-1] = 1
        norms.append(np.linalg.norm(rnn_backward(dhs, cache)[1]))
    return np.array(norms)

def estimate_growth_factor(norms):
    k = np.arange(len(norms)); y = np.log(norms)
    slope = ((k - k.mean()) * (y - y.mean())).sum() / ((k - k.mean()) ** 2).sum()
    return float(np.exp(slope))

def sigmoid(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1 / (1 + np.exp(-z[pos]))
    e = np.exp(z[~pos]); out[~pos] = e / (1 + e)
    return out

def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    i, f, g, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2*H]), np.tanh(a[:, 2*H:3*H]), sigmoid(a[:, 3*H:])
    c = f * c_prev + i * g
    h = o * np.tanh(c)
    return h, c, (x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c)

def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    h, c = h0, c0; hs, cs, caches = [], [], []
    for t in range(len(x)):
        h, c, k = lstm_step_forward(x[t], h, c, W_ih, W_hh, b)
        hs.append(h); cs.append(c); caches.append(k)
    return np.array(hs), np.array(cs), caches

def lstm_parameter_count(D, H):
    return 4 * H * (D + H + 1)

def concat_weights(W_ih, W_hh):
    return np.hstack([W_hh, W_ih])

def lstm_step_forward_concat(x, h_prev, c_prev, W, b):
    H = h_prev.shape[1]
    return lstm_step_forward(x, h_prev, c_prev, W[:, H:], W[:, :H], b)[:2]

def numerical_gradient(f, x, df, eps=1e-6):
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + eps; p = f(x).copy()
        x[ix] = old - eps; m = f(x).copy()
        x[ix] = old
        grad[ix] = np.sum((p - m) * df) / (2 * eps)
    return grad

# a3's backward passes read the caches of the LSTM forward that a3 hands out as code:
# one LSTMStepCache per step (fields x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c, tanh_c).

def lstm_step_backward(dh, dc, cache):
    i, f, g, o, c_prev = cache.i, cache.f, cache.g, cache.o, cache.c_prev
    tc = np.tanh(cache.c)
    dct = dc + dh * o * (1 - tc ** 2)
    blocks = [dct * g * i * (1 - i), dct * c_prev * f * (1 - f), dct * i * (1 - g ** 2),
              dh * tc * o * (1 - o)]
    dx = sum(np.einsum("nh,hd->nd", block, W) for block, W in zip(blocks, np.split(cache.W_ih, 4)))
    dh_prev = sum(np.einsum("nh,hk->nk", block, W) for block, W in zip(blocks, np.split(cache.W_hh, 4)))
    dW_ih = np.vstack([np.einsum("nh,nd->hd", block, cache.x) for block in blocks])
    dW_hh = np.vstack([np.einsum("nh,nk->hk", block, cache.h_prev) for block in blocks])
    db = np.concatenate([block.sum(0) for block in blocks])
    return dx, dh_prev, dct * f, dW_ih, dW_hh, db

def lstm_backward(dhs, caches, dcT=None):
    """BPTT written out with each step's gates, without a step backward."""
    T = dhs.shape[0]
    W_ih, W_hh = caches[0].W_ih, caches[0].W_hh
    dx = np.zeros((T,) + caches[0].x.shape); dW_ih = np.zeros_like(W_ih); dW_hh = np.zeros_like(W_hh)
    db = np.zeros(W_ih.shape[0])
    dh = np.zeros_like(caches[0].h_prev); dc = np.zeros_like(dh) if dcT is None else dcT.copy()
    for t in range(T - 1, -1, -1):
        s = caches[t]
        dh = dh + dhs[t]
        dc = dc + dh * s.o * (1 - s.tanh_c ** 2)
        da = np.hstack([dc * s.g * s.i * (1 - s.i), dc * s.c_prev * s.f * (1 - s.f),
                        dc * s.i * (1 - s.g ** 2), dh * s.tanh_c * s.o * (1 - s.o)])
        dx[t] = da @ W_ih
        dW_ih += da.T @ s.x; dW_hh += da.T @ s.h_prev; db += da.sum(0)
        dh, dc = da @ W_hh, dc * s.f
    return dx, dh, dc, dW_ih, dW_hh, db

def rel_error(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-300)))

def check_gradients(forward, backward, inputs, seed=0, eps=1e-6):
    names = list(inputs)
    values = [np.array(inputs[n], dtype=float) for n in names]
    *outs, cache = forward(*values)
    rng = np.random.default_rng(seed)
    douts = [rng.standard_normal(o.shape) for o in outs]
    grads = backward(*douts, cache)
    errors = {}
    for k, name in enumerate(names):
        def f(v, k=k):
            args = list(values)
            args[k] = v
            return np.concatenate([o.ravel() for o in forward(*args)[:-1]])
        errors[name] = rel_error(grads[k], numerical_gradient(f, values[k].copy(),
                                                              np.concatenate([d.ravel() for d in douts]), eps))
    return errors


# a4: the weather lab ------------------------------------------------------------------------

def make_dataset(sequence, look_back):
    N = len(sequence) - look_back
    inputs = np.zeros((look_back, N, 3), dtype=np.float32)
    for n in range(N):
        for t in range(look_back):
            inputs[t, n, sequence[n + t]] = 1.0
    return inputs, np.array([sequence[n + look_back] for n in range(N)], dtype=np.int64)


def _torch():
    import torch
    return torch


def WeatherClassifier(cell="LSTM", hidden_size=10):
    torch = _torch()

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            layer = torch.nn.LSTM if cell == "LSTM" else torch.nn.RNN
            self.layer = layer(3, hidden_size)
            self.readout = torch.nn.Linear(hidden_size, 3)

        def forward(self, x):
            outputs, _ = self.layer(x)
            return self.readout(outputs[-1])

    return Classifier()


def train_full_batch(model, train, epochs=400, lr=0.01):
    torch = _torch()
    inputs, targets = train
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        logits = model(inputs)
        loss = torch.nn.functional.nll_loss(torch.log_softmax(logits, dim=1), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def evaluate(model, inputs, targets):
    torch = _torch()
    with torch.no_grad():
        logits = model(inputs)
        loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum") / len(targets)
        accuracy = (logits.argmax(dim=1) == targets).double().mean()
    return loss.item(), accuracy.item()


# a5: the GRU, gate by gate with einsum, σ as exp(−log(1 + e^{−a})), h as n + z (h − n).

def _sigmoid_by_logaddexp(a):
    return np.exp(-np.logaddexp(0.0, -a))


def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    H = h_prev.shape[1]
    gates = {}
    for k, gate in enumerate("rzn"):
        rows = slice(k * H, (k + 1) * H)
        gates[gate] = (np.einsum("nd,jd->nj", x, W_ih[rows]) + b_ih[rows],
                       np.einsum("nk,jk->nj", h_prev, W_hh[rows]) + b_hh[rows])
    r = _sigmoid_by_logaddexp(gates["r"][0] + gates["r"][1])
    z = _sigmoid_by_logaddexp(gates["z"][0] + gates["z"][1])
    n = np.tanh(gates["n"][0] + r * gates["n"][1])
    return n + z * (h_prev - n), {"x": x, "h_prev": h_prev, "W_ih": W_ih, "W_hh": W_hh,
                                  "r": r, "z": z, "n": n, "hn": gates["n"][1]}


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    h, hs, caches = h0, [], []
    for x_t in x:
        h, cache = gru_step_forward(x_t, h, W_ih, W_hh, b_ih, b_hh)
        hs.append(h)
        caches.append(cache)
    return np.array(hs), caches


def gru_step_backward(dh, cache):
    r, z, n, hn, x, h_prev = (cache[k] for k in ("r", "z", "n", "hn", "x", "h_prev"))
    da_n = dh * (1 - z) * (1 - n) * (1 + n)
    da_z = dh * (h_prev - n) * z * (1 - z)
    da_r = da_n * hn * r * (1 - r)
    input_side = {"r": da_r, "z": da_z, "n": da_n}
    recurrent_side = {"r": da_r, "z": da_z, "n": da_n * r}
    H = h_prev.shape[1]
    dx, dh_prev = 0.0, dh * z
    dW_ih, dW_hh = np.zeros_like(cache["W_ih"]), np.zeros_like(cache["W_hh"])
    db_ih, db_hh = np.zeros(3 * H), np.zeros(3 * H)
    for k, gate in enumerate("rzn"):
        rows = slice(k * H, (k + 1) * H)
        dx = dx + np.einsum("nj,jd->nd", input_side[gate], cache["W_ih"][rows])
        dh_prev = dh_prev + np.einsum("nj,jk->nk", recurrent_side[gate], cache["W_hh"][rows])
        dW_ih[rows] = np.einsum("nj,nd->jd", input_side[gate], x)
        dW_hh[rows] = np.einsum("nj,nk->jk", recurrent_side[gate], h_prev)
        db_ih[rows] = input_side[gate].sum(axis=0)
        db_hh[rows] = recurrent_side[gate].sum(axis=0)
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh


def gru_free_parameter_count(D, H):
    weights = 3 * H * D + 3 * H * H
    biases = 2 * H + 2 * H  # the sums b_xr + b_hr and b_xz + b_hz, then b_xn and b_hn
    return weights + biases


# a6: the peephole LSTM, gate by gate from a dict of blocks, σ from a5's form, the cache a dict,
# and BPTT accumulating into zero arrays.

def _blocks(stacked, names, H):
    return {name: stacked[..., k * H:(k + 1) * H] for k, name in enumerate(names)}


def peephole_step_forward(x, h_prev, c_prev, W_ih, W_hh, b, p):
    H = h_prev.shape[1]
    a = _blocks(np.einsum("nd,gd->ng", x, W_ih) + np.einsum("nk,gk->ng", h_prev, W_hh) + b, "ifgo", H)
    peep = _blocks(p, "ifo", H)
    i = _sigmoid_by_logaddexp(a["i"] + peep["i"] * c_prev)
    f = _sigmoid_by_logaddexp(a["f"] + peep["f"] * c_prev)
    g = np.tanh(a["g"])
    c = c_prev * f + g * i
    o = _sigmoid_by_logaddexp(a["o"] + peep["o"] * c)
    h = np.tanh(c) * o
    return h, c, {"x": x, "h_prev": h_prev, "c_prev": c_prev, "W_ih": W_ih, "W_hh": W_hh, "peep": peep,
                  "i": i, "f": f, "g": g, "o": o, "c": c}


def peephole_forward(x, h0, c0, W_ih, W_hh, b, p):
    T = x.shape[0]
    hs, cs = np.empty((T,) + h0.shape), np.empty((T,) + c0.shape)
    h, c, caches = h0, c0, []
    for t in range(T):
        h, c, cache = peephole_step_forward(x[t], h, c, W_ih, W_hh, b, p)
        hs[t], cs[t] = h, c
        caches.append(cache)
    return hs, cs, caches


def peephole_step_backward(dh, dc, cache):
    i, f, g, o, c, c_prev, peep = (cache[k] for k in ("i", "f", "g", "o", "c", "c_prev", "peep"))
    squash = np.tanh(c)
    da_o = dh * squash * o * (1 - o)
    dc_total = dc + dh * o * (1 - squash) * (1 + squash) + da_o * peep["o"]
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g) * (1 + g)
    da = np.hstack([da_i, da_f, da_g, da_o])
    dc_prev = f * dc_total + peep["i"] * da_i + peep["f"] * da_f
    dp = np.hstack([np.einsum("nj,nj->j", da_i, c_prev), np.einsum("nj,nj->j", da_f, c_prev),
                    np.einsum("nj,nj->j", da_o, c)])
    return (np.einsum("ng,gd->nd", da, cache["W_ih"]), np.einsum("ng,gk->nk", da, cache["W_hh"]), dc_prev,
            np.einsum("ng,nd->gd", da, cache["x"]), np.einsum("ng,nk->gk", da, cache["h_prev"]),
            np.einsum("ng->g", da), dp)


def peephole_backward(dhs, caches, dcT=None):
    T, N, H = dhs.shape
    D = caches[0]["x"].shape[1]
    dx = np.zeros((T, N, D))
    dW_ih, dW_hh = np.zeros((4 * H, D)), np.zeros((4 * H, H))
    db, dp = np.zeros(4 * H), np.zeros(3 * H)
    dh_next = np.zeros((N, H))
    dc_next = np.zeros((N, H)) if dcT is None else dcT.copy()
    for t in range(T - 1, -1, -1):
        dx[t], dh_next, dc_next, dW_ih_t, dW_hh_t, db_t, dp_t = peephole_step_backward(
            dhs[t] + dh_next, dc_next, caches[t])
        dW_ih, dW_hh, db, dp = dW_ih + dW_ih_t, dW_hh + dW_hh_t, db + db_t, dp + dp_t
    return dx, dh_next, dc_next, dW_ih, dW_hh, db, dp
