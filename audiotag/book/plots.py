"""The book's figures: small functions that take data and return a matplotlib :class:`~matplotlib.figure.Figure`.

Every function builds its own ``Figure`` (no pyplot state, nothing shown as a side effect), so the same call serves
a notebook (the figure is the cell's value and Jupyter draws it), a widget (:mod:`audiotag.book.widgets` renders the
figure to PNG bytes) and a test (inspect ``fig.axes``). They only draw: computing features, reading runs and
scoring predictions stays in the modules that own those steps, and the notebooks show those calls.

Groups, in the order the book uses them:

* data (chapter 1): :func:`class_balance`, :func:`verified_share`, :func:`duration_histogram`, :func:`usage_counts`,
  :func:`waveform`, :func:`waveform_grid` (one excerpt per class), :func:`sample_rate_comparison` (one sound
  at two sample rates);
* features (chapter 2): :func:`feature_image`, :func:`feature_panel` (the four features of one clip),
  :func:`multires_panel` (paper Fig. 1), :func:`network_image` (the 3 x 299 x 299 input), :func:`stft_framing`,
  :func:`power_and_db`, :func:`mel_filterbank_figure`, :func:`line_curves`, :func:`beta_densities`;
* augmentation: :func:`mixup_figure`, :func:`erasing_figure`;
* the networks (chapters 3, 4): :func:`conv1d_outputs`, :func:`learned_filterbank`, :func:`fold_diagram`,
  :func:`conv_feature_maps`, :func:`inception_diagram`;
* training and results: :func:`learning_curves`, :func:`comparison_bars` (ours beside the paper's),
  :func:`study_panels` (a study's rows, ours and the paper's on separate axes, with ranks),
  :func:`system_scores` (MAP@3 of several systems against a reference line), :func:`system_intervals` (with their
  bootstrap intervals), :func:`bootstrap_histogram`, :func:`clip_images`, :func:`topk_bars` (a clip's top
  tags) and :func:`top_tags_grid` (several files' top tags);
* inside the networks (chapter 6): :func:`filterbank_comparison`, :func:`grad_cam_panel`, :func:`embedding_maps`.

:func:`figure_png` turns any figure into PNG bytes.
"""
from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

#: Colour of "ours" and of "the paper" wherever both appear.
OURS_COLOR = "tab:blue"
PAPER_COLOR = "tab:gray"
#: Colours of right and wrong answers.
RIGHT_COLOR, WRONG_COLOR = "tab:green", "tab:red"
#: Colour map of every spectral image.
FEATURE_CMAP = "magma"
#: Axis labels of the feature kinds (rows of the image, lowest first).
FEATURE_ROWS = {"spectrogram": "frequency bin", "logmel": "mel band", "mfcc": "MFCC coefficient",
                "multires": "mel band"}
#: The paper's names for the feature kinds (Table 4's rows).
FEATURE_NAMES = {"mfcc": "mfcc", "logmel": "log-mel spectrogram",
                 "multires": "multi-resolution log-mel spectrogram", "spectrogram": "spectrogram",
                 "waveform": "raw waveform"}


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image`` or a file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _new(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# ------------------------------------------------------------------------------------------------------------- data
def class_balance(summary: pd.DataFrame, title: str = "Training clips per class") -> Figure:
    """Horizontal bars of training clips per class, the manually verified part in a darker shade.

    ``summary``: :meth:`audiotag.data.datasets.TaggingDataset.summary` (columns ``train`` and ``verified``, one row per
    class). Classes are sorted by count, so the imbalance reads from top to bottom.
    """
    table = summary.sort_values("train")
    fig = _new(7.5, max(3.0, 0.2 * len(table) + 1.0))
    ax = fig.add_subplot()
    y = np.arange(len(table))
    ax.barh(y, table["train"], color="tab:orange", alpha=0.45, label="not verified")
    ax.barh(y, table["verified"], color="tab:orange", label="manually verified")
    ax.set_yticks(y, labels=list(table.index), fontsize=7)
    ax.set_xlabel("training clips")
    ax.set_ylim(-0.6, len(table) - 0.4)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


def verified_share(summary: pd.DataFrame, title: str = "Share of manually verified labels") -> Figure:
    """Per class, the share of training clips whose label was manually verified (the rest may be wrong)."""
    share = (summary["verified"] / summary["train"].clip(lower=1)).sort_values()
    overall = summary["verified"].sum() / max(1, summary["train"].sum())
    fig = _new(7.5, max(3.0, 0.2 * len(share) + 1.0))
    ax = fig.add_subplot()
    y = np.arange(len(share))
    ax.barh(y, share.to_numpy(), color="tab:purple")
    ax.axvline(overall, color="k", linestyle="--", linewidth=1, label=f"all classes: {overall:.0%}")
    ax.set_yticks(y, labels=list(share.index), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, len(share) - 0.4)
    ax.set_xlabel("verified share of the class's training clips")
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


def duration_histogram(durations: Mapping[str, Sequence[float]] | Sequence[float], bins: int = 40,
                       title: str = "Clip durations") -> Figure:
    """Histogram of clip durations in seconds on a logarithmic axis (FSDKaggle2018: 0.3 s to 30 s).

    ``durations``: one sequence, or a mapping ``name -> sequence`` (e.g. ``{"train": ..., "test": ...}``) drawn
    as overlaid histograms with their medians marked.
    """
    groups = dict(durations) if isinstance(durations, Mapping) else {"clips": durations}
    values = [np.asarray(v, dtype=float) for v in groups.values()]
    lo = max(1e-2, min(float(v.min()) for v in values if v.size))
    hi = max(float(v.max()) for v in values if v.size)
    edges = np.geomspace(lo, max(hi, lo * 1.01), bins + 1)
    fig = _new(7.5, 3.2)
    ax = fig.add_subplot()
    for (name, v), color in zip(groups.items(), ("tab:blue", "tab:orange", "tab:green", "tab:red")):
        ax.hist(v, bins=edges, alpha=0.55, color=color, label=f"{name} ({len(v)} clips, median {np.median(v):.1f} s)")
        ax.axvline(np.median(v), color=color, linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("duration (s, log scale)")
    ax.set_ylabel("clips")
    ax.legend()
    ax.set_title(title)
    return fig


def usage_counts(test: pd.DataFrame, title: str = "Test clips by leaderboard") -> Figure:
    """Bars of test clips per ``usage`` (Public / Private / Ignored), with their shares of the scored clips."""
    counts = test["usage"].fillna("unknown").value_counts()
    order = [u for u in ("Public", "Private", "Ignored", "unknown") if u in counts.index]
    counts = counts[order]
    scored = int(counts.get("Public", 0) + counts.get("Private", 0))
    fig = _new(5.5, 3.0)
    ax = fig.add_subplot()
    colors = {"Public": "tab:blue", "Private": "tab:green", "Ignored": "0.6", "unknown": "0.8"}
    bars = ax.bar(order, counts.to_numpy(), color=[colors[u] for u in order])
    for bar, usage in zip(bars, order):
        note = f"{counts[usage]}"
        if usage in ("Public", "Private") and scored:
            note += f"\n({counts[usage] / scored:.0%} of scored)"
        ax.annotate(note, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.set_ylabel("test clips")
    ax.set_ylim(0, counts.max() * 1.3)
    ax.set_title(title)
    return fig


def waveform(wave: np.ndarray, sample_rate: int, title: str | None = None, ax=None, color: str = "tab:blue"):
    """A waveform against time in seconds. Returns the Figure, or draws into ``ax`` and returns it."""
    wave = np.asarray(wave, dtype=np.float32)
    fig = None
    if ax is None:
        fig = _new(7.5, 2.2)
        ax = fig.add_subplot()
    t = np.arange(len(wave)) / float(sample_rate)
    ax.plot(t, wave, color=color, linewidth=0.6)
    ax.set_xlim(0, max(t[-1] if len(t) else 0.0, 1e-3))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    if title:
        ax.set_title(title, fontsize=10)
    return fig if fig is not None else ax


def waveform_grid(waves: Mapping[str, np.ndarray], sample_rate: int, columns: int = 4,
                  title: str | None = None, amplitude_limit: float | None = 1.05) -> Figure:
    """Small waveforms in a grid, one per entry of ``waves`` (``{class: excerpt}``), on shared axes: time in
    seconds under the bottom panel of each column, amplitude left of the first column (1 is full scale, the loudest
    a file can hold). ``amplitude_limit``: the vertical axis runs from minus to plus this value; ``None`` fits it to
    the loudest excerpt (so a single quiet clip fills its panel)."""
    n = len(waves)
    columns = max(1, min(int(columns), n))
    rows = max(1, -(-n // columns))
    fig = _new(2.6 * columns + 0.4, 1.25 * rows + 0.9)
    longest = max((len(w) for w in waves.values()), default=1) / float(sample_rate)
    if amplitude_limit is None:
        peak = max((float(np.max(np.abs(w))) for w in waves.values() if len(w)), default=0.0)
        amplitude_limit = 1.1 * peak if peak > 0 else 1.0
    first = None
    for i, (name, wave) in enumerate(waves.items()):
        ax = fig.add_subplot(rows, columns, i + 1, sharex=first, sharey=first)
        first = first or ax
        wave = np.asarray(wave, dtype=np.float32)
        t = np.arange(len(wave)) / float(sample_rate)
        ax.plot(t, wave, linewidth=0.4, color="tab:blue")
        ax.set_title(name, fontsize=8)
        ax.set_xlim(0, max(longest, 1e-3))
        ax.set_ylim(-amplitude_limit, amplitude_limit)
        ax.tick_params(labelsize=7)
        if i + columns >= n:                    # nothing below it: the bottom panel of its column
            ax.set_xlabel("time (s)", fontsize=8)
        else:
            ax.tick_params(labelbottom=False)
        if i % columns == 0:
            ax.set_ylabel("amplitude", fontsize=8)
        else:
            ax.tick_params(labelleft=False)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------------------- features
def feature_image(feature: np.ndarray, kind: str = "logmel", hop_length: int | None = None,
                  sample_rate: int | None = None, title: str | None = None, ax=None, colorbar: bool = True,
                  unit: str = "dB"):
    """One 2D feature ``(F, T)`` (or channel 0 of ``(C, F, T)``) as an image, lowest row at the bottom.

    With ``hop_length`` and ``sample_rate`` the x axis is time in seconds, otherwise frames. Returns the Figure, or
    draws into ``ax`` and returns the ``AxesImage``.
    """
    x = np.asarray(feature, dtype=np.float32)
    if x.ndim == 3:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f"feature_image needs a (F, T) or (C, F, T) array, got shape {x.shape}")
    fig = None
    if ax is None:
        fig = _new(7.5, 3.0)
        ax = fig.add_subplot()
    if hop_length and sample_rate:
        extent = (0, x.shape[1] * hop_length / sample_rate, -0.5, x.shape[0] - 0.5)
        ax.set_xlabel("time (s)")
    else:
        extent = (-0.5, x.shape[1] - 0.5, -0.5, x.shape[0] - 0.5)
        ax.set_xlabel("frame")
    image = ax.imshow(x, origin="lower", aspect="auto", cmap=FEATURE_CMAP, extent=extent, interpolation="nearest")
    ax.set_ylabel(FEATURE_ROWS.get(kind, "row"))
    if title:
        ax.set_title(title, fontsize=10)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, label=unit, pad=0.01)
    return fig if fig is not None else image


def feature_panel(features: Mapping[str, np.ndarray], hop_length: int | None = None, sample_rate: int | None = None,
                  title: str | None = None) -> Figure:
    """Several 2D features of the same clip side by side (four in a 2 x 2 grid), e.g. the paper's four:
    ``{kind: (C, F, T) array}``.

    Each panel is titled with the paper's name of the feature and its native shape (channels x rows x frames).
    """
    n = len(features)
    columns = 2 if n == 4 else n
    rows = -(-n // columns)
    fig = _new(4.2 * columns, 3.3 * rows)
    for i, (kind, x) in enumerate(features.items()):
        ax = fig.add_subplot(rows, columns, i + 1)
        x = np.asarray(x)
        shape = " x ".join(str(s) for s in x.shape)
        feature_image(x, kind, hop_length, sample_rate, f"{FEATURE_NAMES.get(kind, kind)}\n({shape})", ax=ax,
                      colorbar=False)
    if title:
        fig.suptitle(title)
    return fig


def multires_panel(feature: np.ndarray, windows: Sequence[int], sample_rate: int, hop_length: int | None = None,
                   title: str = "Multi-resolution log-mel (paper Fig. 1)") -> Figure:
    """The channels of a multi-resolution log-mel ``(n_windows, n_mels, T)`` one above the other, each labelled with
    its window in samples and milliseconds: short windows keep onsets sharp, long ones resolve pitch."""
    x = np.asarray(feature)
    if x.ndim != 3 or x.shape[0] != len(windows):
        raise ValueError(f"expected ({len(windows)}, n_mels, T) for windows {tuple(windows)}, got shape {x.shape}")
    fig = _new(7.5, 2.1 * len(windows) + 0.6)
    for i, w in enumerate(windows):
        ax = fig.add_subplot(len(windows), 1, i + 1)
        feature_image(x[i], "multires", hop_length, sample_rate,
                      f"window {w} samples ({1000 * w / sample_rate:.0f} ms)", ax=ax)
        if i < len(windows) - 1:
            ax.set_xlabel("")
    fig.suptitle(title)
    return fig


def network_image(image: np.ndarray, title: str = "What the 2D-ConvNet sees") -> Figure:
    """The resized network input ``(3, S, S)``: its three channels side by side (standardised units)."""
    x = np.asarray(image)
    if x.ndim != 3:
        raise ValueError(f"expected a (C, S, S) image, got shape {x.shape}")
    fig = _new(3.0 * x.shape[0] + 0.8, 3.2)
    for c in range(x.shape[0]):
        ax = fig.add_subplot(1, x.shape[0], c + 1)
        ax.imshow(x[c], origin="lower", cmap=FEATURE_CMAP, interpolation="nearest")
        ax.set_title(f"channel {c} ({x.shape[1]} x {x.shape[2]})", fontsize=9)
        ax.set_xlabel("column (time)")
        if c == 0:
            ax.set_ylabel("row (frequency)")
    fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------------- augmentation
def mixup_figure(feature_a: np.ndarray, feature_b: np.ndarray, mixed: np.ndarray, lam: float,
                 label_a: str = "A", label_b: str = "B", waves: tuple | None = None,
                 sample_rate: int | None = None) -> Figure:
    """Mixup of two examples: A, B and ``lam * A + (1 - lam) * B`` (features, and waveforms when ``waves`` =
    ``(a, b, mixed)`` is given), titled with the soft label the network is taught for the mix."""
    rows = 2 if waves is not None else 1
    fig = _new(11.0, 2.6 * rows + 0.5)
    titles = (f"A: {label_a}", f"B: {label_b}", f"mix: {lam:.2f} {label_a} + {1 - lam:.2f} {label_b}")
    for i, (x, t) in enumerate(zip((feature_a, feature_b, mixed), titles)):
        ax = fig.add_subplot(rows, 3, i + 1)
        feature_image(x, "logmel", title=t, ax=ax, colorbar=False)
    if waves is not None:
        for i, (w, color) in enumerate(zip(waves, ("tab:blue", "tab:orange", "tab:green"))):
            ax = fig.add_subplot(rows, 3, 4 + i)
            waveform(w, sample_rate or 1, ax=ax, color=color)
            ax.set_ylim(-1.05, 1.05)
    fig.suptitle(f"Mixup with lambda = {lam:.2f}")
    return fig


def erasing_figure(before: np.ndarray, after: np.ndarray, title: str = "Random erasing") -> Figure:
    """A feature image before and after random erasing (channel 0), on the same colour scale."""
    a, b = np.asarray(before), np.asarray(after)
    a, b = (a[0] if a.ndim == 3 else a), (b[0] if b.ndim == 3 else b)
    vmin, vmax = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    fig = _new(8.0, 3.2)
    for i, (x, t) in enumerate(((a, "before"), (b, "after"))):
        ax = fig.add_subplot(1, 2, i + 1)
        ax.imshow(x, origin="lower", aspect="auto", cmap=FEATURE_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("column (time)")
        if i == 0:
            ax.set_ylabel("row (frequency)")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------- training and results
def learning_curves(histories: pd.DataFrame, title: str = "Learning curves") -> Figure:
    """Loss and accuracy per epoch, one line per fold: training dashed, validation solid.

    ``histories``: :meth:`audiotag.training.runs.RunDir.histories` (columns ``epoch``, ``train_loss``, ``val_loss``,
    ``train_acc``, ``val_acc``, ``fold``). Training metrics are measured on augmented (mixed) batches, so they can
    sit below validation.
    """
    if histories.empty:
        raise ValueError("no training history to plot (has the run trained any epoch?)")
    fig = _new(10.0, 3.4)
    axes = [fig.add_subplot(1, 2, i + 1) for i in range(2)]
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")
    for i, (fold, h) in enumerate(histories.groupby("fold")):
        c = colors[i % len(colors)]
        for ax, metric in zip(axes, ("loss", "acc")):
            ax.plot(h["epoch"], h[f"train_{metric}"], linestyle="--", color=c, marker=".", alpha=0.7)
            ax.plot(h["epoch"], h[f"val_{metric}"], linestyle="-", color=c, marker="o", label=f"fold {fold}")
    axes[0].set_ylabel("cross-entropy")
    axes[1].set_ylabel("accuracy")
    axes[1].set_ylim(0, 1)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[1].legend(title="solid: validation\ndashed: training", fontsize=8)
    fig.suptitle(title)
    return fig


def comparison_bars(table: pd.DataFrame, ours: str, paper: str, ours_label: str = "ours",
                    paper_label: str = "paper (FSDKaggle2018)", ylabel: str = "validation accuracy",
                    title: str | None = None, ours_err: str | None = None) -> Figure:
    """Grouped bars of our number beside the paper's for each row of ``table`` (e.g. Table 3's crop lengths or
    Table 4's features); a missing value (NaN) leaves its bar out. The legend names the datasets. ``ours_err``: a
    column of our numbers' spread (e.g. the standard deviation over folds), drawn as error bars."""
    x = np.arange(len(table))
    fig = _new(max(5.0, 1.4 * len(table) + 2.0), 3.4)
    ax = fig.add_subplot()
    for offset, col, label, color in ((-0.2, ours, ours_label, OURS_COLOR), (0.2, paper, paper_label, PAPER_COLOR)):
        values = table[col].to_numpy(dtype=float)
        err = table[ours_err].to_numpy(dtype=float) if (col == ours and ours_err) else None
        bars = ax.bar(x + offset, np.nan_to_num(values), width=0.38, color=color, label=label,
                      yerr=None if err is None else np.nan_to_num(err), capsize=4 if err is not None else 0)
        for bar, v in zip(bars, values):
            if np.isfinite(v):
                ax.annotate(f"{v:.3f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, labels=[str(i) for i in table.index], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, loc="upper left")
    if title:
        ax.set_title(title)
    return fig


def study_panels(ours: pd.Series, paper: pd.Series, ours_sd: pd.Series | None = None,
                 ours_label: str = "ours", paper_label: str = "paper (FSDKaggle2018)",
                 ylabel: str = "validation accuracy", reference: float | None = None,
                 reference_label: str = "main run", title: str | None = None) -> Figure:
    """A study (Table 3's crop lengths, Table 4's features) as two panels that share nothing: ours on the left (bars
    with ``ours_sd``, the fold-to-fold standard deviation, as error bars; ``reference``, e.g. the main run's
    validation accuracy, as a dashed line), the paper's on the right, each with its own rows (under ``cpu`` Table 3
    trains 0.5-2 s crops, the paper 2-5 s) and its own vertical axis, and the rank of each row (1 = best) written on
    its bar. Two datasets, two recipes: compare the orderings, not the heights. A missing value (NaN) leaves its bar
    out."""
    if list(map(str, paper.index)) == list(map(str, ours.index)) or set(paper.index) <= set(ours.index):
        paper = paper.reindex(ours.index)       # the same rows: the same order on both sides
    fig = _new(max(7.5, 1.1 * (len(ours) + len(paper)) + 2.5), 3.4)
    axes = fig.subplots(1, 2)
    for ax, values, err, label, color in ((axes[0], ours, ours_sd, ours_label, OURS_COLOR),
                                          (axes[1], paper, None, paper_label, PAPER_COLOR)):
        v = values.to_numpy(dtype=float)
        e = np.zeros_like(v) if err is None else np.nan_to_num(err.reindex(values.index).to_numpy(dtype=float))
        x = np.arange(len(v))
        finite = np.isfinite(v)
        ax.bar(x[finite], v[finite], color=color, width=0.6, yerr=None if err is None else e[finite],
               capsize=4 if err is not None else 0)
        ranks = pd.Series(v).rank(ascending=False, method="min")
        top = float(np.nanmax(v + e)) if finite.any() else 1.0
        low = float(np.nanmin(v - e)) if finite.any() else 0.0
        for xi, vi, ei, r in zip(x, v, e, ranks):
            if np.isfinite(vi):
                ax.annotate(f"{vi:.3f}\n#{int(r)}", (xi, vi + ei), xytext=(0, 3), textcoords="offset points",
                            ha="center", va="bottom", fontsize=8)
        if reference is not None and ax is axes[0] and np.isfinite(reference):
            ax.axhline(reference, color="k", linestyle="--", linewidth=1, label=f"{reference_label}: {reference:.3f}")
            ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
            top, low = max(top, reference), min(low, reference)
        span = max(top - low, 0.05)
        ax.set_ylim(max(0.0, low - 0.6 * span), min(1.05, top + 0.6 * span))
        ax.set_xticks(x, labels=[str(i) for i in values.index], fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def topk_bars(labels: Sequence[str], probs: Sequence[float], true_label: str | None = None,
              title: str | None = None, ax=None, true_rank: int | None = None, true_prob: float | None = None):
    """A clip's top tags as horizontal bars, best on top; with ``true_label`` the right tag is green and the others
    red. Returns the Figure, or draws into ``ax`` and returns it.

    The true label is always shown: when it is not among ``labels``, an extra row below a dotted line names it,
    ``true: X (rank r)``, with a hatched bar of ``true_prob`` when that probability is known (``true_rank`` is its
    place in the clip's full ranking), or the note "not among the top k" when it is not."""
    labels, probs = list(labels), np.asarray(probs, dtype=float)
    extra = true_label is not None and true_label not in labels
    rows = len(labels) + int(extra)
    fig = None
    if ax is None:
        fig = _new(6.0, 0.45 * rows + 1.2)
        ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1] + int(extra)
    if true_label is None:
        colors = [OURS_COLOR] * len(labels)
    else:
        colors = [RIGHT_COLOR if lab == true_label else WRONG_COLOR for lab in labels]
    ax.barh(y, probs, color=colors)
    for yi, p in zip(y, probs):
        ax.annotate(f"{p:.2f}", (p, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ticks, names = list(y), list(labels)
    if extra:
        ax.axhline(0.5, color="0.5", linestyle=":", linewidth=1)
        rank = f" (rank {int(true_rank)})" if true_rank is not None else ""
        if true_prob is not None and np.isfinite(true_prob):
            ax.barh([0], [float(true_prob)], color="none", edgecolor=RIGHT_COLOR, hatch="///", linewidth=1)
            ax.annotate(f"{float(true_prob):.2f}", (float(true_prob), 0), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        else:
            ax.annotate(f"not among the top {len(labels)}", (0.02, 0), va="center", fontsize=8, color="0.3")
        ticks.append(0)
        names.append(f"true: {true_label}{rank}")
    ax.set_yticks(ticks, labels=names)
    ax.set_ylim(-0.6, rows - 0.4)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability")
    if title:
        ax.set_title(title, fontsize=10)
    return fig if fig is not None else ax


def top_tags_grid(table: pd.DataFrame, truth: Mapping[str, str] | None = None, columns: int = 3,
                  title: str | None = None, top: int | None = None) -> Figure:
    """The top tags of several files (:func:`audiotag.inference.tagging.top_tags`' table: ``file``, ``tag_i``,
    ``prob_i``), one small bar chart each; with ``truth`` (``file -> label``) right tags are green, wrong ones red.

    ``top``: bars per file (default: every ``tag_i`` column of the table). A file's true label is always shown:
    when it is not among its ``top`` tags, an extra hatched bar gives its rank and probability (found in the table's
    further columns: pass the full ranking, ``top_tags(preds, len(preds.classes))``), or a note says it is beyond
    the table's tags."""
    import os

    k_all = sum(1 for c in table.columns if c.startswith("tag_"))
    k = k_all if top is None else max(1, min(int(top), k_all))
    n = len(table)
    rows = max(1, -(-n // columns))
    fig = _new(4.2 * columns, (0.35 * (k + int(bool(truth))) + 1.0) * rows + 0.4)
    for i, row in enumerate(table.itertuples(index=False)):
        row = row._asdict()
        ax = fig.add_subplot(rows, columns, i + 1)
        tags = [row[f"tag_{j}"] for j in range(1, k_all + 1)]
        probs = [row[f"prob_{j}"] for j in range(1, k_all + 1)]
        true = (truth or {}).get(row["file"])
        rank = tags.index(true) + 1 if true in tags else None
        beyond = rank is not None and rank > k
        topk_bars(tags[:k], probs[:k], true, title=os.path.basename(str(row["file"])), ax=ax,
                  true_rank=rank if beyond else None, true_prob=probs[rank - 1] if beyond else None)
        ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title)
    return fig


def system_scores(scores: pd.DataFrame, reference: str | None = None, metric: str = "map3",
                  title: str = "Test-set MAP@3") -> Figure:
    """Grouped bars of ``{metric}_whole``, ``_public`` and ``_private`` per system (rows of
    :func:`audiotag.evaluation.score_table`); the ``reference`` row (e.g. the DCASE baseline) is also drawn as a
    dashed line at its whole-test-set score."""
    parts = [p for p in ("whole", "public", "private") if f"{metric}_{p}" in scores.columns]
    x = np.arange(len(scores))
    width = 0.8 / len(parts)
    fig = _new(max(6.0, 1.3 * len(scores) + 2.0), 3.8)
    ax = fig.add_subplot()
    for i, (part, color) in enumerate(zip(parts, ("tab:blue", "tab:orange", "tab:green"))):
        ax.bar(x + (i - (len(parts) - 1) / 2) * width, scores[f"{metric}_{part}"].to_numpy(dtype=float),
               width=width, color=color, label=part)
    if reference is not None and reference in scores.index:
        ax.axhline(float(scores.loc[reference, f"{metric}_whole"]), color="k", linestyle="--", linewidth=1,
                   label=f"{reference} (whole)")
    ax.set_xticks(x, labels=[str(i) for i in scores.index], rotation=20, ha="right", fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(metric.upper().replace("MAP3", "MAP@3"))
    ax.legend(fontsize=8, ncols=2)
    ax.set_title(title)
    return fig


# ------------------------------------------------------------------------------------- chapter 2: the maths in figures
def stft_framing(wave: np.ndarray, sample_rate: int, window: np.ndarray, hop_length: int, start: int = 0,
                 n_frames: int = 3, title: str | None = None) -> Figure:
    """How the STFT cuts a waveform: ``n_frames`` consecutive frames of ``len(window)`` samples, ``hop_length``
    apart, from sample ``start``. Top: the excerpt with each frame's window drawn over it; bottom: each windowed
    frame ``x[n + mH] w[n]``, the input of one FFT (one column of the spectrogram)."""
    wave = np.asarray(wave, dtype=np.float64)
    window = np.asarray(window, dtype=np.float64)
    n = len(window)
    stop = min(len(wave), start + n + (n_frames - 1) * hop_length)
    excerpt = wave[start:stop]
    peak = float(np.abs(excerpt).max()) or 1.0
    fig = _new(9.0, 4.6)
    grid = fig.add_gridspec(2, n_frames)
    top = fig.add_subplot(grid[0, :])
    t = (start + np.arange(len(excerpt))) / sample_rate
    top.plot(t, excerpt, color="0.45", linewidth=0.5)
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
    for m in range(n_frames):
        s = start + m * hop_length
        if s + n > len(wave):
            break
        tw = (s + np.arange(n)) / sample_rate
        top.plot(tw, peak * window, color=colors[m % len(colors)], linewidth=1.4,
                 label=f"frame m = {m}: window from {1000 * s / sample_rate:.1f} ms")
        bottom = fig.add_subplot(grid[1, m])
        bottom.plot(1000 * np.arange(n) / sample_rate, wave[s:s + n] * window, color=colors[m % len(colors)],
                    linewidth=0.5)
        bottom.set_ylim(-1.05 * peak, 1.05 * peak)
        bottom.set_title(f"x[n + {m}H] w[n]", fontsize=9)
        bottom.set_xlabel("n (ms into the frame)")
        if m == 0:
            bottom.set_ylabel("amplitude")
    top.set_xlim(t[0], t[-1])
    top.set_xlabel("time (s)")
    top.set_ylabel("amplitude")
    top.legend(fontsize=7, loc="upper right", ncols=n_frames)
    top.set_title(title or f"Frames of {n} samples ({1000 * n / sample_rate:.1f} ms), hop {hop_length} samples "
                           f"({1000 * hop_length / sample_rate:.1f} ms)", fontsize=10)
    return fig


def power_and_db(power: np.ndarray, db: np.ndarray, sample_rate: int, hop_length: int,
                 title: str = "The same power spectrogram, linear and in decibels",
                 max_hz: float | None = None) -> Figure:
    """A power spectrogram ``(1 + N / 2, T)`` on a linear colour scale beside its dB version: on the linear scale
    a few loud bins are all one sees; decibels show the quiet structure too. Rows are frequency in kHz, up to
    ``max_hz`` (``None``: the Nyquist frequency)."""
    power, db = np.asarray(power, dtype=np.float32), np.asarray(db, dtype=np.float32)
    n_bins = power.shape[0]
    top = n_bins if max_hz is None else min(n_bins, int(np.ceil(max_hz / (sample_rate / 2) * (n_bins - 1))) + 1)
    fig = _new(10.0, 3.4)
    extent = (0, power.shape[-1] * hop_length / sample_rate, 0, (top - 1) / (n_bins - 1) * sample_rate / 2000)
    for i, (x, name, unit) in enumerate(((power, "power |X|^2 (linear)", "power"),
                                         (db, "10 log10 |X|^2 (dB)", "dB"))):
        ax = fig.add_subplot(1, 2, i + 1)
        image = ax.imshow(x[:top], origin="lower", aspect="auto", cmap=FEATURE_CMAP, extent=extent,
                          interpolation="antialiased")
        fig.colorbar(image, ax=ax, label=unit, pad=0.01)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (kHz)")
    fig.suptitle(title)
    return fig


def mel_filterbank_figure(filterbank: np.ndarray, sample_rate: int, title: str | None = None) -> Figure:
    """The mel scale and a mel filterbank ``(n_mels, 1 + N / 2)``. Left: mels against hertz (equation
    ``2595 log10(1 + f / 700)``, and librosa's default Slaney scale rescaled to meet it at the top), with equal
    mel steps marked; right: every band's triangle over frequency (narrow and dense at low frequencies, wide above
    1 kHz)."""
    import librosa

    fb = np.asarray(filterbank, dtype=np.float64)
    n_mels, n_bins = fb.shape
    freqs = np.linspace(0, sample_rate / 2, n_bins)
    fig = _new(10.5, 3.6)
    left = fig.add_subplot(1, 2, 1)
    htk = 2595.0 * np.log10(1.0 + freqs / 700.0)
    slaney = librosa.hz_to_mel(freqs)
    left.plot(freqs / 1000, htk, color="tab:blue", label="2595 log10(1 + f / 700)")
    left.plot(freqs / 1000, slaney * htk[-1] / slaney[-1], color="tab:orange", linestyle="--",
              label="Slaney (librosa), rescaled")
    for m in np.linspace(0, htk[-1], 9)[1:-1]:
        f = 700.0 * (10 ** (m / 2595.0) - 1.0) / 1000
        left.plot([0, f, f], [m, m, 0], color="0.6", linewidth=0.6)
    left.set_xlabel("frequency (kHz)")
    left.set_ylabel("mel")
    left.set_xlim(0, sample_rate / 2000)
    left.set_ylim(0, htk[-1] * 1.02)
    left.legend(fontsize=8, loc="lower right")
    left.set_title("equal steps in mel: ever wider steps in Hz", fontsize=10)
    right = fig.add_subplot(1, 2, 2)
    colors = ("tab:blue", "tab:orange")
    for j in range(n_mels):
        right.plot(freqs / 1000, fb[j], color=colors[j % 2], linewidth=0.8)
    right.set_xlabel("frequency (kHz)")
    right.set_ylabel("weight")
    right.set_xlim(0, sample_rate / 2000)
    right.set_title(f"{n_mels} triangular mel filters (librosa.filters.mel)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def line_curves(curves: Mapping[str, np.ndarray], x: np.ndarray | None = None, xlabel: str = "",
                ylabel: str = "", title: str | None = None, styles: Sequence[str] | None = None) -> Figure:
    """A few curves over the same x axis (``{label: y}``), e.g. one frame of a log-mel spectrogram and what its
    first MFCCs keep of it."""
    fig = _new(7.5, 3.0)
    ax = fig.add_subplot()
    for i, (name, y) in enumerate(curves.items()):
        y = np.asarray(y, dtype=np.float64)
        xs = np.arange(len(y)) if x is None else np.asarray(x)
        ax.plot(xs, y, styles[i] if styles else "-", label=name, linewidth=1.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def beta_densities(alphas: Sequence[float], title: str = "Mixup's weight: lambda ~ Beta(alpha, alpha)") -> Figure:
    """The densities of ``Beta(alpha, alpha)`` for each alpha on (0, 1): small alphas pile the mixing weight near 0
    and 1 (mostly one clip, a little of the other), alpha = 1 is uniform, large alphas concentrate on 0.5."""
    from scipy.stats import beta

    lam = np.linspace(0.002, 0.998, 499)
    fig = _new(6.0, 3.0)
    ax = fig.add_subplot()
    for a in alphas:
        ax.plot(lam, beta.pdf(lam, a, a), label=f"alpha = {a:g}")
    ax.set_ylim(0, 4)
    ax.set_xlim(0, 1)
    ax.set_xlabel("lambda (weight of clip A)")
    ax.set_ylabel("probability density")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------- sampling (ch. 1)
def sample_rate_comparison(versions: Mapping[str, tuple[np.ndarray, int]],
                           spectra: Mapping[str, tuple[np.ndarray, np.ndarray]], zoom: tuple[float, float],
                           title: str | None = None) -> Figure:
    """One sound at several sample rates (chapter 1): what sampling keeps and what a low rate loses.

    ``versions``: ``{name: (wave, sample_rate)}``, the first one the reference (e.g. the file at 44.1 kHz, then the
    same clip at 8 kHz); ``spectra``: ``{name: (frequencies in Hz, power per Hz)}`` of each version (e.g.
    :func:`audiotag.book.exercises.ch1_data.average_spectrum`); ``zoom``: ``(start, end)`` in seconds.

    Top: the reference waveform, the zoomed stretch shaded. Bottom left: the zoomed stretch of every version, one
    dot per sample (a lower rate has fewer dots, and cannot follow fast wiggles). Bottom right: the spectra in dB
    (relative to the reference's peak) against frequency, each version's Nyquist frequency (rate / 2) dashed."""
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red")
    names = list(versions)
    fig = _new(9.0, 5.6)
    grid = fig.add_gridspec(2, 2)
    top = fig.add_subplot(grid[0, :])
    wave0, rate0 = versions[names[0]]
    t0 = np.arange(len(wave0)) / float(rate0)
    top.plot(t0, wave0, color=colors[0], linewidth=0.4)
    top.axvspan(zoom[0], zoom[1], color="0.5", alpha=0.25, label="zoomed below")
    top.set_xlim(0, max(t0[-1] if len(t0) else 0.0, 1e-3))
    top.set_xlabel("time (s)")
    top.set_ylabel("amplitude")
    top.set_title(f"{names[0]}: the whole excerpt", fontsize=10)
    top.legend(loc="upper right", fontsize=8)

    left = fig.add_subplot(grid[1, 0])
    for (name, (wave, rate)), color in zip(versions.items(), colors):
        a, b = int(np.floor(zoom[0] * rate + 1e-6)), int(np.ceil(zoom[1] * rate - 1e-6)) + 1    # both ends included
        seg = np.asarray(wave[a:b], dtype=np.float32)
        t = (a + np.arange(len(seg))) / float(rate)
        left.plot(t, seg, color=color, linewidth=0.8, marker="o", markersize=2.5 if rate >= 20000 else 4,
                  label=f"{name} ({len(seg)} samples)")
    left.set_xlim(*zoom)
    left.set_xlabel("time (s)")
    left.set_ylabel("amplitude")
    left.set_title(f"{1000 * (zoom[1] - zoom[0]):.0f} ms, one dot per sample", fontsize=10)
    left.legend(fontsize=7, loc="upper right")
    left.ticklabel_format(axis="x", useOffset=False)

    right = fig.add_subplot(grid[1, 1])
    ref = max(float(np.max(spectra[names[0]][1])), 1e-30)
    for (name, (freqs, power)), color in zip(spectra.items(), colors):
        right.plot(np.asarray(freqs) / 1000, 10 * np.log10(np.maximum(np.asarray(power) / ref, 1e-12)), color=color,
                   linewidth=0.8, label=name)
    for (name, (_, rate)), color in zip(versions.items(), colors):
        right.axvline(rate / 2000, color=color, linestyle="--", linewidth=1, label=f"Nyquist {rate / 2000:g} kHz")
    right.set_ylim(-90, 5)
    right.set_xlim(0, max(r for _, r in versions.values()) / 2000 * 1.02)
    right.set_xlabel("frequency (kHz)")
    right.set_ylabel("power (dB re. peak)")
    right.set_title("average spectrum", fontsize=10)
    right.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------- uncertainty (chapter 5)
def system_intervals(intervals: pd.DataFrame, reference: str | None = None,
                     others: Mapping[str, Mapping[str, float]] | None = None,
                     title: str = "Test-set MAP@3 with 95% bootstrap intervals") -> Figure:
    """Each system's score as a dot with its interval as a bar, one row per system (rows of
    :func:`audiotag.evaluation.uncertainty.score_intervals`: ``MAP@3``, ``low``, ``high``), best at the top; the
    ``reference`` row's score (e.g. the classic floor) as a dashed vertical line; ``others`` (label -> {row: score},
    e.g. the scores of other builds) as extra markers on the same rows."""
    table = intervals.sort_values("MAP@3")
    y = np.arange(len(table))
    fig = _new(7.5, max(2.6, 0.45 * len(table) + 1.3))
    ax = fig.add_subplot()
    est = table["MAP@3"].to_numpy(dtype=float)
    err = np.vstack([est - table["low"].to_numpy(dtype=float), table["high"].to_numpy(dtype=float) - est])
    level = intervals.attrs.get("level", 0.95)
    ax.errorbar(est, y, xerr=np.maximum(err, 0), fmt="o", color=OURS_COLOR, ecolor=OURS_COLOR, elinewidth=2,
                capsize=4, label=f"this build, with its {level:.0%} interval")
    for (label, scores), marker in zip((others or {}).items(), ("D", "s", "^", "v")):
        xs = [scores.get(name, np.nan) for name in table.index]
        ax.scatter(xs, y, marker=marker, facecolors="none", edgecolors=PAPER_COLOR, s=40, zorder=3, label=label)
    if reference is not None and reference in table.index:
        ax.axvline(float(table.loc[reference, "MAP@3"]), color="k", linestyle="--", linewidth=1,
                   label=f"{reference} (floor)")
    ax.set_yticks(y, labels=[str(i) for i in table.index], fontsize=8)
    ax.set_xlabel("MAP@3 (whole scored test set)")
    ax.set_xlim(max(0.0, float(np.nanmin(table["low"])) - 0.05), min(1.02, float(np.nanmax(table["high"])) + 0.05))
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)
    return fig


def bootstrap_histogram(draws: np.ndarray, estimate: float, low: float, high: float, se: float | None = None,
                        title: str = "Bootstrap distribution of the test MAP@3", xlabel: str = "MAP@3") -> Figure:
    """A histogram of bootstrap re-scores (``draws``) with the score (``estimate``) and its interval
    (``low``..``high``, shaded) marked; with ``se``, the normal curve of that standard error over it."""
    draws = np.asarray(draws, dtype=float)
    fig = _new(7.0, 3.2)
    ax = fig.add_subplot()
    ax.hist(draws, bins=40, density=True, color=OURS_COLOR, alpha=0.55, label=f"{len(draws)} bootstrap re-scores")
    ax.axvspan(low, high, color="tab:orange", alpha=0.15, label=f"interval {low:.3f} to {high:.3f}")
    for x in (low, high):
        ax.axvline(x, color="tab:orange", linewidth=1.2)
    ax.axvline(estimate, color="k", linewidth=1.5, label=f"score on the test set {estimate:.3f}")
    if se is not None and se > 0:
        xs = np.linspace(draws.min(), draws.max(), 200)
        ax.plot(xs, np.exp(-0.5 * ((xs - estimate) / se) ** 2) / (se * np.sqrt(2 * np.pi)), color="k",
                linestyle=":", linewidth=1, label=f"normal, standard error {se:.3f}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title)
    return fig


def clip_images(images: Mapping[str, tuple[np.ndarray, int, int]], title: str | None = None,
                kind: str = "logmel") -> Figure:
    """Several clips' spectral images side by side, each titled with its label: ``images`` maps a label to
    ``(feature (F, T), hop_length, sample_rate)``; time in seconds on each x axis."""
    fig = _new(3.6 * len(images) + 0.6, 2.8)
    axes = np.atleast_1d(fig.subplots(1, len(images)))
    for ax, (label, (feature, hop, rate)) in zip(axes, images.items()):
        feature_image(feature, kind, hop_length=hop, sample_rate=rate, title=label, ax=ax, colorbar=ax is axes[-1])
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------------- 2D convolution (ch. 4)
def conv_feature_maps(image: np.ndarray, kernels: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                      window: tuple[int, int] | None = None, row_label: str = "mel band",
                      title: str | None = None) -> Figure:
    """A 2D convolution on a feature image, drawn: the input (rows: frequency, columns: time frames) on the left, with
    the ``k x k`` window the kernel covers at ``window = (row, column)`` (its lower-left corner) outlined, then one
    row per named kernel: its weights (written in the cells) and the output map it produces. ``outputs`` are computed
    by the caller (e.g. ``torch.nn.functional.conv2d``); this function only draws."""
    x = np.asarray(image, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected a 2D (rows, frames) image, got shape {x.shape}")
    if set(kernels) != set(outputs):
        raise ValueError(f"kernels {sorted(kernels)} and outputs {sorted(outputs)} must have the same names")
    names = list(kernels)
    fig = _new(9.5, 0.6 + 2.6 * max(len(names), 1.4))
    grid = fig.add_gridspec(len(names), 3, width_ratios=[3.0, 0.9, 3.0])
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(x, origin="lower", aspect="auto", cmap=FEATURE_CMAP, interpolation="nearest")
    ax.set_title(f"input: {x.shape[0]} x {x.shape[1]}", fontsize=9)
    ax.set_xlabel("frame (time)")
    ax.set_ylabel(row_label)
    if window is not None:
        from matplotlib.patches import Rectangle

        kh, kw = np.asarray(kernels[names[0]]).shape
        ax.add_patch(Rectangle((window[1] - 0.5, window[0] - 0.5), kw, kh, fill=False, edgecolor="cyan",
                               linewidth=1.5))
    for i, name in enumerate(names):
        k, y = np.asarray(kernels[name], dtype=float), np.asarray(outputs[name], dtype=float)
        kax = fig.add_subplot(grid[i, 1])
        lim = float(np.abs(k).max()) or 1.0
        kax.imshow(k, origin="lower", cmap="coolwarm", vmin=-lim, vmax=lim)
        for (r, c), v in np.ndenumerate(k):
            kax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=7)
        kax.set_xticks([])
        kax.set_yticks([])
        kax.set_title(f"kernel {k.shape[0]} x {k.shape[1]}\n{name}", fontsize=8)
        oax = fig.add_subplot(grid[i, 2])
        lim = float(np.abs(y).max()) or 1.0
        oax.imshow(y, origin="lower", aspect="auto", cmap="coolwarm", vmin=-lim, vmax=lim, interpolation="nearest")
        oax.set_title(f"output: {y.shape[0]} x {y.shape[1]}", fontsize=9)
        if i == len(names) - 1:
            oax.set_xlabel("frame (time)")
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------- Inception blocks (ch. 4)
#: Box colours of the Inception diagram: 1x1 convolutions, square kernels, factorised 1 x n / n x 1 kernels, pooling.
INCEPTION_COLORS = {"1x1": "#cfe3f7", "square": "#fbd9b0", "factorised": "#cdeccd", "pool": "#e3e3e3"}


def _layer_box(layer) -> tuple[str, str, int | None]:
    """What one layer of an Inception branch is, for its box: ``(text, colour key, output channels or None)``."""
    conv = getattr(layer, "conv", None)
    if conv is not None:                                   # ConvBN2d: Conv2d -> BatchNorm -> ReLU
        kh, kw = conv.kernel_size
        stride = conv.stride[0] if isinstance(conv.stride, tuple) else conv.stride
        key = "1x1" if (kh, kw) == (1, 1) else ("square" if kh == kw else "factorised")
        return (f"{kh}x{kw} conv, {conv.out_channels}" + (f"\nstride {stride}" if stride > 1 else ""), key,
                conv.out_channels)
    kind = type(layer).__name__
    size = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
    stride = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
    what = {"AvgPool2d": "avg pool", "MaxPool2d": "max pool"}.get(kind, kind)
    return f"{size}x{size} {what}" + (f"\nstride {stride}" if stride > 1 else ""), "pool", None


def inception_diagram(blocks: Mapping[str, object], title: str | None = None) -> Figure:
    """Inception blocks drawn from the modules that build them: one panel per block (``{"A (mixed0)": module}``),
    stacked top to bottom, each with its input on top, one column per branch in concatenation order (each layer a box: kernel, output channels,
    stride), and the concatenation at the bottom with the channels each branch adds. A block is any module whose
    children are its branches (:class:`audiotag.models.blocks.Branches`); a branch is one layer or a sequence of
    layers (``ConvBN2d`` or pooling)."""
    from matplotlib.patches import FancyBboxPatch, Patch

    panels = []
    for name, block in blocks.items():
        branches = []
        in_channels = None
        for branch in block.children():
            layers = list(branch.children()) if not hasattr(branch, "conv") and list(branch.children()) else [branch]
            boxes = [_layer_box(layer) for layer in layers]
            first_conv = next((getattr(layer, "conv") for layer in layers if hasattr(layer, "conv")), None)
            if in_channels is None and first_conv is not None:
                in_channels = first_conv.in_channels
            branches.append(boxes)
        if not branches:
            raise ValueError(f"block {name!r} has no branches")
        panels.append((name, branches, in_channels))
    depths = [max(len(b) for b in branches) for _, branches, _ in panels]
    cols = max(len(branches) for _, branches, _ in panels)
    fig = _new(1.5 * cols + 0.4, sum(0.55 * (d + 2) + 0.3 for d in depths) + 0.6)
    grid = fig.add_gridspec(len(panels), 1, height_ratios=[d + 2.2 for d in depths])
    arrow = dict(arrowstyle="-|>", color="0.35", linewidth=0.9, shrinkA=0, shrinkB=0)
    for p, ((name, branches, in_channels), depth) in enumerate(zip(panels, depths)):
        ax = fig.add_subplot(grid[p, 0])
        n = len(branches)
        shift = (cols - n) / 2                       # a block of fewer branches is centred
        ax.set_xlim(-0.55 - shift, cols - 0.45 - shift)
        ax.set_ylim(-(depth + 1) - 0.4, 0.4)
        ax.axis("off")
        ax.set_title(name, fontsize=10, loc="left")
        box_w, box_h = 0.92, 0.56

        def box(x, y, text, color, width=box_w):
            ax.add_patch(FancyBboxPatch((x - width / 2, y - box_h / 2), width, box_h,
                                        boxstyle="round,pad=0.02,rounding_size=0.06", facecolor=color,
                                        edgecolor="0.3", linewidth=0.8))
            ax.text(x, y, text, ha="center", va="center", fontsize=8.5)

        full = n - 0.1
        box((n - 1) / 2, 0, f"input, {in_channels} channels" if in_channels else "input", "white", width=full)
        outs = []
        for b, boxes in enumerate(branches):
            y_prev = -box_h / 2
            for level, (text, key, _) in enumerate(boxes):
                y = -(level + 1)
                ax.annotate("", (b, y + box_h / 2), (b, y_prev), arrowprops=arrow)
                box(b, y, text, INCEPTION_COLORS[key])
                y_prev = y - box_h / 2
            ax.annotate("", (b, -(depth + 1) + box_h / 2), (b, y_prev), arrowprops=arrow)
            last = next((c for _, _, c in reversed(boxes) if c is not None), None)
            outs.append(last if last is not None else in_channels)
        total = sum(o for o in outs if o is not None) if all(o is not None for o in outs) else None
        parts = " + ".join(str(o) for o in outs)
        box((n - 1) / 2, -(depth + 1), f"concatenate: {parts}" + (f" = {total}" if total else ""),
            "white", width=full)
    handles = [Patch(facecolor=c, edgecolor="0.3", label=label) for label, c in
               (("1x1 convolution", INCEPTION_COLORS["1x1"]), ("square kernel", INCEPTION_COLORS["square"]),
                ("factorised 1 x n / n x 1", INCEPTION_COLORS["factorised"]), ("pooling", INCEPTION_COLORS["pool"]))]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8.5, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------------- 1D convolution (ch. 3)
def conv1d_outputs(wave: np.ndarray, sample_rate: int, kernels: Mapping[str, np.ndarray],
                   outputs: Mapping[str, np.ndarray], stride: int, title: str | None = None) -> Figure:
    """A strided 1D convolution on a waveform, drawn: the input excerpt on top (time in s), then for each named
    kernel its taps (time in ms, left) and the output it produces (right), each output value placed at the time of the
    first input sample of its window (one value every ``stride`` samples). ``outputs`` are computed by the caller
    (e.g. ``torch.nn.functional.conv1d``); this function only draws."""
    if set(kernels) != set(outputs):
        raise ValueError(f"kernels {sorted(kernels)} and outputs {sorted(outputs)} must have the same names")
    names = list(kernels)
    wave = np.asarray(wave, dtype=float)
    fig = _new(9.0, 1.7 * (len(names) + 1) + 0.4)
    grid = fig.add_gridspec(len(names) + 1, 2, width_ratios=[1.0, 3.2])
    ax = fig.add_subplot(grid[0, :])
    t = np.arange(len(wave)) / float(sample_rate)
    ax.plot(t, wave, color="tab:blue", linewidth=0.7)
    ax.set_xlim(0, t[-1] if len(t) else 1e-3)
    ax.set_ylabel("amplitude", fontsize=8)
    ax.set_title(f"input x[n]: {len(wave)} samples at {sample_rate / 1000:g} kHz", fontsize=9)
    for i, name in enumerate(names, start=1):
        k, y = np.asarray(kernels[name], dtype=float), np.asarray(outputs[name], dtype=float)
        kax = fig.add_subplot(grid[i, 0])
        kax.plot(1000.0 * np.arange(len(k)) / sample_rate, k, color="tab:purple", linewidth=1)
        kax.axhline(0, color="0.6", linewidth=0.5)
        kax.set_title(f"kernel w[k]: {name}\n({len(k)} taps)", fontsize=8)
        kax.tick_params(labelsize=7)
        oax = fig.add_subplot(grid[i, 1], sharex=ax)
        oax.plot(np.arange(len(y)) * stride / float(sample_rate), y, color="tab:orange", linewidth=0.8)
        oax.axhline(0, color="0.6", linewidth=0.5)
        oax.set_title(f"output $y[t] = \\sum_k w[k]\\,x[{stride}t + k]$: {len(y)} values", fontsize=8)
        oax.tick_params(labelsize=7)
        if i == len(names):
            kax.set_xlabel("time (ms)", fontsize=8)
            oax.set_xlabel("time (s)", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def learned_filterbank(kernels: np.ndarray, responses_db: np.ndarray, freqs: np.ndarray, sample_rate: int,
                       examples: int = 4, floor_db: float = -40.0, title: str | None = None) -> Figure:
    """A learned first layer as a filterbank: ``examples`` of its kernels (taps against time in ms, left) and the
    magnitude response of every kernel as one row of an image (frequency in kHz across, dB relative to the row's
    peak), rows in the order given (sort them, e.g. by peak frequency, before calling). ``responses_db``:
    ``(n_kernels, len(freqs))``; the examples are spread evenly over the rows and marked on the image."""
    kernels, responses_db = np.asarray(kernels, dtype=float), np.asarray(responses_db, dtype=float)
    if kernels.ndim != 2 or responses_db.shape != (len(kernels), len(freqs)):
        raise ValueError(f"expected kernels (n, taps) and responses (n, {len(freqs)}), got {kernels.shape} and "
                         f"{responses_db.shape}")
    n = len(kernels)
    picks = np.unique(np.linspace(0, n - 1, min(examples, n)).round().astype(int))
    fig = _new(10.0, 3.8)
    grid = fig.add_gridspec(len(picks), 2, width_ratios=[1.0, 2.4])
    t = 1000.0 * np.arange(kernels.shape[1]) / sample_rate
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
    for i, row in enumerate(picks):
        kax = fig.add_subplot(grid[i, 0])
        kax.plot(t, kernels[row], color=colors[i % len(colors)], linewidth=0.9)
        kax.axhline(0, color="0.6", linewidth=0.5)
        kax.set_yticks([])
        kax.tick_params(labelsize=7)
        kax.set_ylabel(f"row {row}", fontsize=7)
        if i == 0:
            kax.set_title("example kernels (taps)", fontsize=9)
        if i == len(picks) - 1:
            kax.set_xlabel("time (ms)", fontsize=8)
        else:
            kax.tick_params(labelbottom=False)
    ax = fig.add_subplot(grid[:, 1])
    image = ax.imshow(np.maximum(responses_db, floor_db), origin="lower", aspect="auto", cmap=FEATURE_CMAP,
                      extent=(freqs[0] / 1000.0, freqs[-1] / 1000.0, -0.5, n - 0.5), interpolation="nearest")
    for i, row in enumerate(picks):
        ax.annotate(f"row {row}", (freqs[-1] / 1000.0, row), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=7, color=colors[i % len(colors)], annotation_clip=False)
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("filter (sorted)")
    ax.set_title(f"magnitude response of each of the {n} filters", fontsize=9)
    fig.colorbar(image, ax=ax, label="dB re the filter's peak", pad=0.08)
    if title:
        fig.suptitle(title)
    return fig


def fold_diagram(n_folds: int, val_counts: Sequence[int] | None = None,
                 title: str = "K-fold cross-validation: which fold validates what") -> Figure:
    """K-fold cross-validation as a grid: one row per model (model k trains on every fold but k and validates on
    fold k), one column per fold of the training clips (with its clip count when ``val_counts`` is given), and a last
    row, the out-of-fold predictions, assembled from each model's predictions on its own validation fold."""
    from matplotlib.patches import Patch, Rectangle

    k = int(n_folds)
    fig = _new(max(5.5, 1.2 * k + 2.5), 0.55 * (k + 1) + 1.4)
    ax = fig.add_subplot()
    for row in range(k):
        for col in range(k):
            validate = row == col
            ax.add_patch(Rectangle((col, k - row), 0.95, 0.85, color="tab:orange" if validate else "tab:blue",
                                   alpha=0.9 if validate else 0.35))
            ax.annotate("validate" if validate else "train", (col + 0.475, k - row + 0.425), ha="center",
                        va="center", fontsize=8)
        ax.annotate(f"model {row}", (-0.1, k - row + 0.425), ha="right", va="center", fontsize=9)
    for col in range(k):
        ax.add_patch(Rectangle((col, 0), 0.95, 0.85, color="tab:green", alpha=0.7))
        ax.annotate(f"by model {col}", (col + 0.475, 0.425), ha="center", va="center", fontsize=8)
        label = f"fold {col}" + (f"\n{int(val_counts[col])} clips" if val_counts is not None else "")
        ax.annotate(label, (col + 0.475, k + 1.0), ha="center", va="bottom", fontsize=8)
    ax.annotate("out-of-fold\npredictions", (-0.1, 0.425), ha="right", va="center", fontsize=9)
    ax.set_xlim(-1.6, k)
    ax.set_ylim(-0.1, k + 1.7)
    ax.set_axis_off()
    fig.legend(handles=[Patch(color="tab:blue", alpha=0.35, label="trains on"),
                       Patch(color="tab:orange", alpha=0.9, label="validates on"),
                       Patch(color="tab:green", alpha=0.7, label="predicted by")],
              loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------- inside the networks (its own chapter)
def filterbank_comparison(banks: Mapping[str, object], floor_db: float = -40.0, max_khz: float | None = None,
                          title: str | None = None) -> Figure:
    """Filterbanks side by side, one image each: a row per filter, sorted by peak frequency (lowest at the bottom),
    frequency in kHz across, colour the magnitude in dB relative to the filter's own peak; a white dot marks each
    peak. For "initial vs trained vs mel": ``{"initial": r0, "trained": r1, "mel filterbank": r2}``.

    Each bank is a :class:`audiotag.evaluation.filters.FilterResponses` (or any object with its ``freqs``,
    ``sorted_db`` and ``sorted_peak_hz``). ``max_khz`` cuts the frequency axis (default: each bank's Nyquist).
    """
    if not banks:
        raise ValueError("no filterbanks to draw")
    fig = _new(3.6 * len(banks) + 0.9, 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(banks), sharey=False))
    image = None
    for ax, (name, bank) in zip(axes, banks.items()):
        freqs = np.asarray(bank.freqs, dtype=float) / 1000.0
        db = np.maximum(np.asarray(bank.sorted_db, dtype=float), floor_db)
        peaks = np.asarray(bank.sorted_peak_hz, dtype=float) / 1000.0
        n = len(db)
        image = ax.imshow(db, origin="lower", aspect="auto", cmap=FEATURE_CMAP, vmin=floor_db, vmax=0.0,
                          extent=(freqs[0], freqs[-1], -0.5, n - 0.5), interpolation="nearest")
        ax.plot(peaks, np.arange(n), "o", color="white", markersize=2.5, markeredgewidth=0)
        ax.set_xlim(freqs[0], min(freqs[-1], max_khz) if max_khz else freqs[-1])
        ax.set_xlabel("frequency (kHz)")
        ax.set_title(f"{name} ({n} filters)", fontsize=10)
    axes[0].set_ylabel("filter, sorted by peak frequency")
    fig.colorbar(image, ax=list(axes), label="dB re the filter's peak", pad=0.01)
    if title:
        fig.suptitle(title)
    return fig


def grad_cam_panel(cams: Sequence[object], columns: int = 4, hop_length: int | None = None,
                   sample_rate: int | None = None, title: str | None = None) -> Figure:
    """Grad-CAM maps of several clips: per clip its log-mel (top) and the map laid over it (bottom; the log-mel in
    grey, the map in colour where it exceeds 0.1, and its 0.5 contour), mel bands up, time across.

    Each item is an :class:`audiotag.evaluation.gradcam.ClipCam` (or any object with ``feature`` and ``cam`` arrays
    ``(F, T)``, and optionally ``name``, ``label``, ``probs``, ``target``, ``hop_length`` and ``sample_rate``); the
    title says which class the map explains and the network's probability for it.
    """
    cams = list(cams)
    if not cams:
        raise ValueError("no Grad-CAM maps to draw")
    columns = max(1, min(columns, len(cams)))
    rows = -(-len(cams) // columns)
    fig = _new(3.3 * columns, 4.4 * rows)
    grid = fig.add_gridspec(2 * rows, columns)
    for i, item in enumerate(cams):
        feature, cam = np.asarray(item.feature, dtype=float), np.asarray(item.cam, dtype=float)
        if feature.shape != cam.shape:
            raise ValueError(f"clip {i}: feature {feature.shape} and map {cam.shape} differ in shape")
        hop = hop_length or getattr(item, "hop_length", None)
        rate = sample_rate or getattr(item, "sample_rate", None)
        seconds = feature.shape[1] * hop / rate if hop and rate else None
        extent = (0, seconds if seconds else feature.shape[1], -0.5, feature.shape[0] - 0.5)
        r, c = divmod(i, columns)
        top = fig.add_subplot(grid[2 * r, c])
        bottom = fig.add_subplot(grid[2 * r + 1, c], sharex=top)
        top.imshow(feature, origin="lower", aspect="auto", cmap=FEATURE_CMAP, extent=extent, interpolation="nearest")
        bottom.imshow(feature, origin="lower", aspect="auto", cmap="gray", extent=extent, interpolation="nearest")
        bottom.imshow(np.ma.masked_less(cam, 0.1), origin="lower", aspect="auto", cmap="jet", vmin=0, vmax=1,
                      alpha=0.55, extent=extent, interpolation="bilinear")
        x = np.linspace(extent[0], extent[1], cam.shape[1] + 1)[:-1] + (extent[1] - extent[0]) / (2 * cam.shape[1])
        if cam.max() > 0.5:
            bottom.contour(x, np.arange(cam.shape[0]), cam, levels=[0.5], colors="white", linewidths=0.8)
        label = getattr(item, "label", None)
        target = getattr(item, "target", None)
        probs = getattr(item, "probs", None)
        line = str(label if label is not None else (f"class {target}" if target is not None else ""))
        if probs is not None and target is not None:
            line += f" (p = {float(np.asarray(probs)[target]):.2f})"
        if cam.max() <= 0:
            line += "\nno evidence for it: map all 0"
        name = getattr(item, "name", "") or f"clip {i}"
        top.set_title(f"{name}\nexplains: {line}" if line else name, fontsize=8)
        top.tick_params(labelbottom=False, labelsize=7)
        bottom.tick_params(labelsize=7)
        bottom.set_xlabel("time (s)" if seconds else "frame", fontsize=8)
        if c == 0:
            top.set_ylabel("mel band", fontsize=8)
            bottom.set_ylabel("Grad-CAM", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def class_palette(n: int) -> list:
    """``n`` distinguishable colours for class scatter plots: matplotlib's qualitative ``tab20``, ``tab20b`` and
    ``tab20c`` one after another (60 colours; the 41 classes of FSDKaggle2018 fit), repeated beyond that."""
    from matplotlib import colormaps

    colours = [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    return [colours[i % len(colours)] for i in range(n)]


def embedding_maps(maps: Mapping[str, tuple[np.ndarray, Sequence[str]]], classes: Sequence[str] | None = None,
                   label_size: float = 6.0, title: str | None = None) -> Figure:
    """2-D maps of clip embeddings (e.g. t-SNE of the 1D and the 2D network) side by side, one point per clip,
    coloured by its class (:func:`class_palette`, the same colour for a class in every panel) and every class named
    just above the median of its points.

    ``maps``: ``{panel title: (coordinates (n, 2), class label per clip)}``. ``classes`` fixes the colour order
    (default: the sorted labels of all panels). Marker shapes change every 20 classes, so classes that share a
    similar colour still differ.
    """
    if not maps:
        raise ValueError("no maps to draw")
    all_labels = sorted({str(label) for _, labels in maps.values() for label in labels})
    classes = [str(c) for c in (classes if classes is not None else all_labels)]
    colour = dict(zip(classes, class_palette(len(classes))))
    marker = {c: "osD^v<>"[(i // 20) % 7] for i, c in enumerate(classes)}
    fig = _new(6.2 * len(maps), 6.0)
    axes = np.atleast_1d(fig.subplots(1, len(maps)))
    for ax, (name, (xy, labels)) in zip(axes, maps.items()):
        xy = np.asarray(xy, dtype=float)
        labels = np.asarray([str(label) for label in labels])
        if xy.shape != (len(labels), 2):
            raise ValueError(f"{name}: coordinates {xy.shape} do not match {len(labels)} labels")
        for c in classes:
            pts = xy[labels == c]
            if not len(pts):
                continue
            ax.scatter(pts[:, 0], pts[:, 1], s=22, color=colour[c], marker=marker[c], alpha=0.9,
                       edgecolors="0.25", linewidths=0.3, zorder=2)
            cx, cy = np.median(pts, axis=0)
            ax.annotate(c.replace("_", " "), (cx, cy), xytext=(0, 5), textcoords="offset points", fontsize=label_size,
                        ha="center", va="bottom", color="0.15", zorder=3)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{name} ({len(labels)} clips)", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------- wrong labels (chapter 6)
def detection_curves(scores: Mapping[str, pd.DataFrame] | pd.DataFrame, marks: Mapping[str, int] | None = None,
                     title: str | None = None) -> Figure:
    """How well rankings of suspected wrong labels find the known ones: precision@k (left) and recall@k (right)
    against k, one line per ranking, and what picking k clips at random gives (dashed, the chance level).

    ``scores``: rows of :func:`audiotag.evaluation.label_noise.detection_scores` (columns ``k``, ``precision``,
    ``recall``, ``chance precision``, ``chance recall``), best with every k from 1; a mapping ``{name: rows}``
    draws several rankings of the same clips. ``marks``: ``{label: k}`` vertical dotted lines (e.g. the number of
    clips flagged)."""
    if isinstance(scores, pd.DataFrame):
        scores = {"ranking": scores}
    if not scores:
        raise ValueError("no detection scores to draw")
    fig = _new(10.0, 3.4)
    axes = fig.subplots(1, 2)
    colours = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
    for (name, table), colour in zip(scores.items(), colours):
        k = table["k"].to_numpy(dtype=float)
        axes[0].plot(k, table["precision"].to_numpy(dtype=float), color=colour, linewidth=1.4, label=name)
        axes[1].plot(k, table["recall"].to_numpy(dtype=float), color=colour, linewidth=1.4, label=name)
    first = next(iter(scores.values()))
    k = first["k"].to_numpy(dtype=float)
    axes[0].plot(k, first["chance precision"].to_numpy(dtype=float), "--", color="0.4", linewidth=1,
                 label="chance (k random clips)")
    axes[1].plot(k, first["chance recall"].to_numpy(dtype=float), "--", color="0.4", linewidth=1,
                 label="chance (k random clips)")
    for label, at in (marks or {}).items():
        for ax in axes:
            ax.axvline(at, color="k", linestyle=":", linewidth=1)
        axes[1].annotate(label, (at, 0.02), xytext=(3, 0), textcoords="offset points", fontsize=7)
    for ax, what in zip(axes, ("precision@k (share of the top k that is wrong)",
                               "recall@k (share of the wrong labels in the top k)")):
        ax.set_xlabel("k (most suspicious clips taken)")
        ax.set_ylabel(what, fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.set_xlim(1, max(k.max(), 2))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    return fig
