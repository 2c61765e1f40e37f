"""The book's figures: small functions that take data and return a matplotlib :class:`~matplotlib.figure.Figure`.

Every function builds its own ``Figure`` (no pyplot state, nothing shown as a side effect), so the same call serves
a notebook (the figure is the cell's value and Jupyter draws it), a widget (:mod:`audiotag.book.widgets` renders the
figure to PNG bytes) and a test (inspect ``fig.axes``). They only draw: computing features, reading runs and
scoring predictions stays in the modules that own those steps, and the notebooks show those calls.

Groups, in the order the book uses them:

* data: :func:`class_balance`, :func:`verified_share`, :func:`duration_histogram`, :func:`usage_counts`,
  :func:`waveform`, :func:`waveform_grid` (one excerpt per class);
* features: :func:`feature_image`, :func:`feature_panel` (the four features of one clip), :func:`multires_panel`
  (paper Fig. 1), :func:`network_image` (the 3 x 299 x 299 input);
* augmentation: :func:`mixup_figure`, :func:`erasing_figure`;
* training and results: :func:`learning_curves`, :func:`comparison_bars` (ours beside the paper's),
  :func:`system_scores` (MAP@3 of several systems against a reference line), :func:`topk_bars` (a clip's top
  tags) and :func:`top_tags_grid` (several files' top tags).

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
                  title: str | None = None) -> Figure:
    """Small waveforms in a grid, one per entry of ``waves`` (``{class: excerpt}``), on a shared amplitude axis."""
    n = len(waves)
    rows = max(1, -(-n // columns))
    fig = _new(2.6 * columns, 1.25 * rows + 0.6)
    for i, (name, wave) in enumerate(waves.items()):
        ax = fig.add_subplot(rows, columns, i + 1)
        t = np.arange(len(wave)) / float(sample_rate)
        ax.plot(t, wave, linewidth=0.4, color="tab:blue")
        ax.set_title(name, fontsize=8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xticks([])
        ax.set_yticks([])
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


def topk_bars(labels: Sequence[str], probs: Sequence[float], true_label: str | None = None,
              title: str | None = None, ax=None):
    """A clip's top tags as horizontal bars, best on top; with ``true_label`` the right tag is green and the others
    red. Returns the Figure, or draws into ``ax`` and returns it."""
    labels, probs = list(labels), np.asarray(probs, dtype=float)
    fig = None
    if ax is None:
        fig = _new(6.0, 0.45 * len(labels) + 1.2)
        ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    if true_label is None:
        colors = [OURS_COLOR] * len(labels)
    else:
        colors = [RIGHT_COLOR if lab == true_label else WRONG_COLOR for lab in labels]
    ax.barh(y, probs, color=colors)
    for yi, p in zip(y, probs):
        ax.annotate(f"{p:.2f}", (p, yi), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, labels=labels)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability")
    if title:
        ax.set_title(title, fontsize=10)
    return fig if fig is not None else ax


def top_tags_grid(table: pd.DataFrame, truth: Mapping[str, str] | None = None, columns: int = 3,
                  title: str | None = None) -> Figure:
    """The top tags of several files (:func:`audiotag.inference.tagging.top_tags`' table: ``file``, ``tag_i``, ``prob_i``),
    one small bar chart each; with ``truth`` (``file -> label``) right tags are green, wrong ones red."""
    import os

    k = sum(1 for c in table.columns if c.startswith("tag_"))
    n = len(table)
    rows = max(1, -(-n // columns))
    fig = _new(4.2 * columns, (0.35 * k + 1.0) * rows + 0.4)
    for i, row in enumerate(table.itertuples(index=False)):
        row = row._asdict()
        ax = fig.add_subplot(rows, columns, i + 1)
        labels = [row[f"tag_{j}"] for j in range(1, k + 1)]
        probs = [row[f"prob_{j}"] for j in range(1, k + 1)]
        true = (truth or {}).get(row["file"])
        topk_bars(labels, probs, true, title=os.path.basename(str(row["file"])), ax=ax)
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
