"""One look for every figure of the course.

Every chapter and lab draws with these colours, so that the RNN, the LSTM and
the GRU are the same colour on every page. Import it where a figure is made:

    from lstm_labs.plotting import COLORS, new_axes
    ax = new_axes("Gradient norm against distance", "k (steps back)", "ratio", log_y=True)
    ax.plot(k, ratio, color=COLORS["LSTM"], label="LSTM")
"""

import matplotlib.pyplot as plt

# Colour-blind-safe (Okabe-Ito), one per model family and one per reference line.
COLORS = {
    "RNN": "#D55E00",  # vermilion
    "LSTM": "#0072B2",  # blue
    "GRU": "#009E73",  # green
    "sLSTM": "#CC79A7",  # purple
    "chance": "#555555",  # grey: ln 3, 1/3, and other floors nothing can beat
    "bound": "#E69F00",  # orange: analytic bounds drawn beside measurements
}

# Shades for the forget-gate bias variants of the LSTM, light to dark.
FORGET_BIAS_SHADES = {0.0: "#56B4E9", 1.0: "#0072B2", 3.0: "#003F63"}


def new_axes(title, xlabel, ylabel, log_y=False, ax=None, figsize=(6.4, 4.0)):
    """Return labelled axes: a title, both axis labels, a light grid, log y if asked."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    return ax
