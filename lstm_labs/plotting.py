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


def new_axes(title, xlabel, ylabel, log_y=False, ax=None, figsize=None):
    """Return labelled axes: a title, both axis labels, a light grid, log y if asked."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize or plt.rcParams["figure.figsize"], layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, which="major", alpha=0.3)
    return ax


# The book's column is about 690 px wide on a laptop and 358 px on a phone, where a
# figure 4.2 inches wide (a little more once its labels are counted) shows at about
# 1.15 px per point: 11.5 pt text is 13 px there, and a subscript or an exponent (0.7
# of its text) still 9.3 px. Every text of a figure is therefore one size; a figure
# that needs two panels stacks them.
BOOK_FIGURE_WIDTH = 4.2
BOOK_RC = {
    "figure.figsize": (BOOK_FIGURE_WIDTH, 3.0),
    "font.size": 11.5,
    "axes.titlesize": "medium",
    "axes.labelsize": "medium",
    "xtick.labelsize": "medium",
    "ytick.labelsize": "medium",
    "legend.fontsize": "medium",
    "legend.title_fontsize": "medium",
    "figure.titlesize": "medium",
    # The inline backend crops to the drawing: a thin margin keeps the width near 4.2 in.
    "savefig.pad_inches": 0.03,
    # SVG with real text: sharp at any zoom, and its letter size can be measured.
    "svg.fonttype": "none",
}


def book_style():
    """Draw the book's figures as SVG, 4.2 inches wide, with text legible on a phone."""
    import matplotlib

    matplotlib.rcParams.update(BOOK_RC)
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # outside a notebook: nothing to set
        return
    set_matplotlib_formats("svg")
