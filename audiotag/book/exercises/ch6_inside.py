"""Chapter 6, "Inside the networks": the solutions of its exercises, and the small helpers its page uses.

Exercises (labels ``ex-inside-*`` in ``notebooks/06_inside_the_networks.ipynb``):

* ``ex-inside-cosine`` - :func:`cosine_kernel` and :func:`response_at`: the frequency response of a known 80-tap
  kernel (a Hann-windowed cosine), computed from the formula at chosen frequencies and compared with the FFT that
  :func:`audiotag.evaluation.filters.kernel_responses` uses; :func:`cosine_kernel_table` puts both side by side;
* ``ex-inside-precision`` - :func:`precision_recall_at_k`: precision and recall of the top ``k`` of a ranking
  against known wrong labels, by hand, to check :func:`audiotag.evaluation.label_noise.detection_scores`;
* ``ex-inside-verified`` - :func:`verified_in_top`: how many manually verified clips sit among the ``k`` most
  suspicious ones (none when only unverified clips are ranked, by construction; some when every clip is);
* ``ex-inside-tsne-seed`` - :func:`overlap_stability`: the t-SNE map drawn with other seeds; do the overlapping
  class pairs stay?
* ``ex-inside-explorer`` - in words (chapter 2's feature explorer, a suspicious clip dropped in).

Helpers of the page (tested like the solutions): :class:`PartClock` (seconds per part of the chapter),
:func:`first_layer_kernels`, :func:`kernel_changes` and :func:`drift_summary` (what training changed in the
first layer), :func:`choose_cam_layer` (which block Grad-CAM reads), :func:`pick_cam_clips` (right and wrong test
clips to explain), :func:`stratified_subset` (at most a few clips per class), :func:`pair_examples`,
:func:`clip_profile` and :func:`pair_sentence` (listening to overlapping classes), :func:`verified_threshold`
(a flagging threshold chosen on the verified clips' out-of-fold probabilities).
"""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn

from audiotag.training.prediction_sets import Predictions


# ------------------------------------------------------------------------------------------------ the clock
class PartClock:
    """Wall-clock seconds of each part of a chapter: :meth:`part` starts a part and ends the one before, so calling
    it at the top of each section measures everything in between (computing and drawing); :meth:`table` ends the
    last part and returns the seconds per part with a total row."""

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self.seconds: dict[str, float] = {}
        self._current: str | None = None
        self._start = 0.0

    def part(self, name: str) -> None:
        self.stop()
        self._current, self._start = name, self._clock()

    def stop(self) -> None:
        if self._current is not None:
            self.seconds[self._current] = self.seconds.get(self._current, 0.0) + self._clock() - self._start
            self._current = None

    def table(self) -> pd.DataFrame:
        self.stop()
        table = pd.DataFrame({"seconds": pd.Series(self.seconds, dtype=float)})
        table.loc["whole chapter"] = table["seconds"].sum()
        table.index.name = "part"
        return table


# ------------------------------------------------------------------------------------------ the first layer
def first_layer_kernels(model: nn.Module) -> np.ndarray:
    """The kernels ``(n_filters, taps)`` of ``model``'s first ``Conv1d`` (48 x 80 in the 1D-ConvNet)."""
    from audiotag.evaluation.filters import first_conv1d

    return first_conv1d(model).weight.detach().float().cpu().numpy()[:, 0, :].astype(np.float64)


def kernel_changes(initial: nn.Module, trained: nn.Module, sample_rate: int, n_fft: int = 1024) -> pd.DataFrame:
    """What training did to each first-layer kernel: the same kernel at initialisation and after training.

    One row per kernel (index: its number): ``peak before (Hz)``, ``peak after (Hz)``, ``peak shift (Hz)`` (after
    minus before), ``similarity`` (cosine similarity of the two tap vectors: 1 = the same shape, 0 = unrelated) and
    ``norm ratio`` (length of the trained taps over the initial ones: above 1 = the filter got louder)."""
    from audiotag.evaluation.filters import kernel_responses

    before, after = first_layer_kernels(initial), first_layer_kernels(trained)
    if before.shape != after.shape:
        raise ValueError(f"the two first layers differ in shape: {before.shape} vs {after.shape}")
    peak_before = kernel_responses(before, sample_rate, n_fft).peak_hz
    peak_after = kernel_responses(after, sample_rate, n_fft).peak_hz
    norm_b, norm_a = np.linalg.norm(before, axis=1), np.linalg.norm(after, axis=1)
    similarity = (before * after).sum(axis=1) / np.maximum(norm_b * norm_a, 1e-12)
    table = pd.DataFrame({"peak before (Hz)": peak_before, "peak after (Hz)": peak_after,
                          "peak shift (Hz)": peak_after - peak_before, "similarity": similarity,
                          "norm ratio": norm_a / np.maximum(norm_b, 1e-12)})
    table.index.name = "kernel"
    return table


def drift_summary(changes: pd.DataFrame, resolution_hz: float) -> pd.Series:
    """A few numbers from :func:`kernel_changes`: how many kernels moved their peak by more than ``resolution_hz``
    (the frequency resolution of the kernel, ``sample_rate / taps``), the median absolute shift, and the median
    similarity and norm ratio of the taps."""
    shift = changes["peak shift (Hz)"].abs()
    return pd.Series({
        "kernels": len(changes),
        f"peak moved by more than {resolution_hz:.0f} Hz": int((shift > resolution_hz).sum()),
        "median peak shift (Hz)": float(shift.median()),
        "median similarity to the initial taps": float(changes["similarity"].median()),
        "median norm ratio (trained / initial)": float(changes["norm ratio"].median()),
    }, dtype=object, name="first layer, initial to trained")


# ------------------------------------------------------------------------------------------------ Grad-CAM
def choose_cam_layer(grids: pd.DataFrame, min_cells: int = 8, prefix: str = "features.") -> str:
    """The block Grad-CAM reads: the last Inception block (``mixed*``) whose grid is at least ``min_cells`` cells a
    side, or, when none is, the one with the finest grid (the last of those). ``grids``: the table of
    :func:`audiotag.book.exercises.ch4_inception2d.grid_sizes` (columns ``layer`` and ``size (forward pass)``).
    Returns the module's name (``"features.mixed6"``)."""
    blocks = grids[grids["layer"].astype(str).str.startswith("mixed")]
    if blocks.empty:
        raise ValueError("no Inception block (mixed*) in the table")
    sizes = blocks["size (forward pass)"].astype(int).to_numpy()
    names = blocks["layer"].astype(str).to_numpy()
    fine = np.flatnonzero(sizes >= min_cells)
    pick = fine[-1] if len(fine) else np.flatnonzero(sizes == sizes.max())[-1]
    return prefix + names[pick]


def pick_cam_clips(pred: Predictions, test: pd.DataFrame, n_right: int = 3, n_wrong: int = 3) -> pd.DataFrame:
    """Scored test clips to explain: the ``n_right`` most confidently right ones and the ``n_wrong`` most confident
    mistakes of ``pred``, each from a different true class (within its group), so the examples differ.

    ``test``: the scored test clips (``fname``, ``label``; other columns such as ``path`` are kept). Columns added:
    ``predicted`` (first label), ``p predicted``, ``p true`` and ``right``; right clips first."""
    rows = test.reset_index(drop=True)
    probs = pred.align(rows["fname"].astype(str).to_numpy()).probs
    index = {c: j for j, c in enumerate(pred.classes)}
    truth = np.array([index[c] for c in rows["label"]])
    top = probs.argmax(axis=1)
    n = np.arange(len(rows))
    out = rows.assign(predicted=np.asarray(pred.classes, dtype=object)[top], **{
        "p predicted": probs[n, top], "p true": probs[n, truth], "right": top == truth})
    chosen = []
    for right, count, key in ((True, n_right, "p true"), (False, n_wrong, "p predicted")):
        group = out[out["right"] == right].sort_values([key, "fname"], ascending=[False, True], kind="mergesort")
        chosen.append(group.drop_duplicates("label").head(count))
    return pd.concat(chosen).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- embeddings
def stratified_subset(table: pd.DataFrame, per_class: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``per_class`` rows of each ``label`` (drawn with ``seed``; ``None``: all rows), in the table's order."""
    if per_class is None:
        return table
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1 (or None for all clips), got {per_class}")
    rng = np.random.default_rng(seed)
    keep = []
    for _, group in table.groupby("label", sort=True):
        idx = group.index.to_numpy()
        keep.extend(idx if len(idx) <= per_class else rng.choice(idx, per_class, replace=False))
    return table.loc[sorted(keep, key=table.index.get_loc)]


def pair_examples(vectors: np.ndarray, labels: Sequence[str], names: Sequence[str], pairs: pd.DataFrame,
                  k: int = 5) -> pd.DataFrame:
    """For each pair of classes (rows of :func:`audiotag.evaluation.embeddings.overlapping_classes`: ``class_a``,
    ``class_b``), one clip of each class that sits among the other's: the clip of ``a`` with the most neighbours of
    class ``b`` among its ``k`` nearest (ties: the first), and the clip of ``b`` with the most of class ``a``.

    Columns: ``class_a``, ``class_b``, ``overlap``, ``clip_a``, ``clip_b`` (names) and ``neighbours_a``,
    ``neighbours_b`` (how many of the clip's ``k`` neighbours belong to the other class)."""
    from audiotag.evaluation.embeddings import neighbour_labels

    labels = np.asarray(labels).astype(str)
    names = np.asarray(names)
    near = neighbour_labels(vectors, labels, k)
    rows = []
    for pair in pairs.itertuples(index=False):
        row = {"class_a": pair.class_a, "class_b": pair.class_b, "overlap": float(pair.overlap)}
        for own, other, side in ((pair.class_a, pair.class_b, "a"), (pair.class_b, pair.class_a, "b")):
            members = np.flatnonzero(labels == own)
            if not len(members):
                raise ValueError(f"no clip of class {own!r}")
            count = (near[members] == other).sum(axis=1)
            best = members[int(np.argmax(count))]
            row[f"clip_{side}"], row[f"neighbours_{side}"] = str(names[best]), int(count.max())
        rows.append(row)
    return pd.DataFrame(rows, columns=["class_a", "class_b", "overlap", "clip_a", "clip_b", "neighbours_a",
                                       "neighbours_b"])


def clip_profile(wave: np.ndarray, rate: int, n_fft: int | None = None) -> dict:
    """Three numbers that describe how a clip sounds: ``peak (Hz)``, the frequency where its average power spectrum
    is highest; ``centroid (Hz)``, the spectrum's centre of mass (a higher centroid sounds brighter); ``sounding``,
    the share of its 46 ms frames within 20 dB of its loudest frame (1: sounds all along; small: short events)."""
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    n_fft = n_fft or int(2 ** np.round(np.log2(0.046 * rate)))
    if len(wave) < n_fft:
        wave = np.pad(wave, (0, n_fft - len(wave)))
    hop = n_fft // 2
    starts = np.arange(0, len(wave) - n_fft + 1, hop)
    frames = np.stack([wave[s:s + n_fft] for s in starts]) * np.hanning(n_fft)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    spectrum = power.mean(axis=0)
    energy = power.sum(axis=1)
    loud = energy >= energy.max() * 10 ** (-20 / 10) if energy.max() > 0 else np.zeros(len(energy), bool)
    centroid = float((freqs * spectrum).sum() / spectrum.sum()) if spectrum.sum() > 0 else 0.0
    return {"peak (Hz)": float(freqs[int(spectrum.argmax())]), "centroid (Hz)": centroid,
            "sounding": float(loud.mean())}


def pair_sentence(class_a: str, profile_a: Mapping[str, float], class_b: str, profile_b: Mapping[str, float]) -> str:
    """A sentence comparing two clips' :func:`clip_profile`: where their spectra peak, how bright they are and how
    much of the time they sound, and whether that makes the pair hard (close on at least two of the three)."""
    def hz(f):
        return f"{f / 1000:.2f} kHz" if f >= 1000 else f"{f:.0f} Hz"

    pa, pb = profile_a["peak (Hz)"], profile_b["peak (Hz)"]
    ca, cb = profile_a["centroid (Hz)"], profile_b["centroid (Hz)"]
    sa, sb = profile_a["sounding"], profile_b["sounding"]
    close_peak = abs(np.log2(max(pa, 20.0) / max(pb, 20.0))) < 0.5           # within half an octave
    close_centroid = abs(np.log2(max(ca, 20.0) / max(cb, 20.0))) < 0.5
    close_time = abs(sa - sb) < 0.25
    text = (f"{class_a.replace('_', ' ')} and {class_b.replace('_', ' ')}: their average spectra peak at {hz(pa)} and "
            f"{hz(pb)}, their centroids lie at {hz(ca)} and {hz(cb)}, and they sound during {sa:.0%} and {sb:.0%} "
            f"of their frames.")
    shared = [what for what, close in (("the main frequency", close_peak), ("the brightness", close_centroid),
                                       ("the rhythm of sound and silence", close_time)) if close]
    if len(shared) >= 2:
        text += f" They share {' and '.join(shared)}: little in these summaries tells them apart."
    elif shared:
        text += (f" They share {shared[0]} only, so what separates them is finer: the shape of the spectrum, "
                 "its harmonics or how it moves in time.")
    else:
        text += (" These summaries differ, so the networks' overlap comes from something else: other clips of "
                 "the classes, the background, or the few training clips of each.")
    return text


# ----------------------------------------------------------------------------------------------- wrong labels
def verified_threshold(oof: Predictions, train: pd.DataFrame, rate: float = 0.05) -> tuple[float, pd.DataFrame]:
    """A threshold on ``p_label`` (the out-of-fold probability of a clip's own label) chosen without any known
    wrong label: the ``rate`` quantile of the *manually verified* training clips' ``p_label``. Verified labels are
    right, so flagging the unverified clips with ``p_label`` at or below it would wrongly flag about ``rate`` of
    the clips whose label is right.

    Returns ``(threshold, verified)`` where ``verified`` is :func:`~audiotag.evaluation.label_noise.suspicion_table`
    of the verified clips (most suspicious first)."""
    from audiotag.evaluation.label_noise import suspicion_table

    if not 0 < rate < 1:
        raise ValueError(f"rate must lie strictly between 0 and 1, got {rate}")
    verified = train[train["manually_verified"].astype(bool)]
    if verified.empty:
        raise ValueError("the training table has no manually verified clip to choose a threshold on")
    table = suspicion_table(oof, verified, unverified_only=False)
    return float(np.quantile(table["p_label"].to_numpy(), rate)), table


def precision_recall_at_k(ranked: Sequence[str], wrong: Iterable[str], k: int) -> dict:
    """Precision and recall of the ``k`` first clips of ``ranked`` (fnames, most suspicious first) at finding the
    clips of ``wrong``, counted by hand (exercise ``ex-inside-precision``)::

        precision@k = (wrong clips among the first k) / k
        recall@k    = (wrong clips among the first k) / (wrong clips in the whole ranking)

    Returns ``k``, ``found``, ``precision``, ``recall`` and the chance precision (wrong share of the ranking)."""
    ranked = [str(f) for f in ranked]
    if not 1 <= k <= len(ranked):
        raise ValueError(f"k must lie in [1, {len(ranked)}], got {k}")
    wrong = {str(f) for f in wrong}
    in_ranking = sum(f in wrong for f in ranked)
    found = sum(f in wrong for f in ranked[:k])
    return {"k": k, "found": found, "precision": found / k,
            "recall": found / in_ranking if in_ranking else float("nan"),
            "chance precision": in_ranking / len(ranked)}


def verified_in_top(oof: Predictions, train: pd.DataFrame, k: int = 20) -> pd.DataFrame:
    """How many manually verified clips are among the ``k`` most suspicious (exercise ``ex-inside-verified``): once
    ranking the unverified clips only (the chapter's table: none, by construction) and once ranking every clip
    (verified labels are right, so each verified clip up there is a false alarm of the score)."""
    from audiotag.evaluation.label_noise import suspicion_table

    rows = {}
    for name, only in (("unverified clips ranked", True), ("every clip ranked", False)):
        top = suspicion_table(oof, train, unverified_only=only).head(k)
        verified = int(top["manually_verified"].astype(bool).sum())
        rows[name] = {"top k": len(top), "verified among them": verified,
                      "verified share": verified / len(top) if len(top) else float("nan")}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "ranking"
    return out


# ------------------------------------------------------------------------------------------ the known kernel
def cosine_kernel(frequency: float, sample_rate: int, taps: int = 80, window: bool = True) -> np.ndarray:
    """A ``taps``-sample cosine at ``frequency`` Hz, Hann-windowed unless ``window`` is false: a band-pass kernel
    like the ones the first layer can learn."""
    n = np.arange(int(taps))
    kernel = np.cos(2 * np.pi * frequency * n / sample_rate)
    return kernel * np.hanning(int(taps)) if window else kernel


def response_at(kernel: np.ndarray, frequencies, sample_rate: int) -> np.ndarray:
    """``|H(f)| = |sum_n h[n] exp(-2 pi i f n / f_s)|`` of a kernel ``h`` at each frequency (Hz), straight from the
    formula (no FFT)."""
    h = np.asarray(kernel, dtype=np.float64)
    f = np.atleast_1d(np.asarray(frequencies, dtype=np.float64))
    n = np.arange(len(h))
    return np.abs(np.exp(-2j * np.pi * np.outer(f, n) / sample_rate) @ h)


def cosine_kernel_table(frequency: float, sample_rate: int, taps: int = 80, n_fft: int = 1024) -> pd.DataFrame:
    """The response of :func:`cosine_kernel` at a few frequencies (the cosine's own, half an octave and an octave
    away, and ``f_s / taps`` either side), in dB relative to its peak, from the formula and from the zero-padded FFT
    (:func:`audiotag.evaluation.filters.kernel_responses`, nearest bin), with the FFT's peak frequency and -3 dB
    width in the table's ``attrs``."""
    from audiotag.evaluation.filters import kernel_responses

    kernel = cosine_kernel(frequency, sample_rate, taps)
    r = kernel_responses(kernel[None], sample_rate, n_fft)
    step = sample_rate / taps
    probes = sorted({f for f in (frequency / 2, frequency / 2 ** 0.5, frequency - step, frequency, frequency + step,
                                 frequency * 2 ** 0.5, frequency * 2) if 0 <= f <= sample_rate / 2})
    formula = response_at(kernel, probes, sample_rate)
    peak = np.abs(np.fft.rfft(kernel, n=n_fft)).max()
    bins = np.rint(np.asarray(probes) * n_fft / sample_rate).astype(int)
    table = pd.DataFrame({"formula (dB)": 20 * np.log10(np.maximum(formula / peak, 1e-12)),
                          "FFT, nearest bin (dB)": r.db[0, bins], "bin (Hz)": r.freqs[bins]},
                         index=pd.Index(np.round(probes, 1), name="frequency (Hz)"))
    table.attrs.update(peak_hz=float(r.peak_hz[0]), bandwidth_hz=float(r.bandwidth_hz[0]), step_hz=step)
    return table


# -------------------------------------------------------------------------------------------- t-SNE seeds
def overlap_stability(vectors: np.ndarray, labels: Sequence[str], seeds: Sequence[int] = (0, 1), k: int = 5,
                      top: int = 5, maps: Mapping[int, np.ndarray] | None = None) -> pd.DataFrame:
    """Do the overlapping class pairs stay when t-SNE is drawn with another seed (exercise ``ex-inside-tsne-seed``)?

    For each seed, the ``top`` most overlapping pairs in the 2-D map (:func:`~audiotag.evaluation.embeddings.
    overlapping_classes` on :func:`~audiotag.evaluation.embeddings.tsne_map`), compared with the ``top`` pairs in
    the embedding itself (which no seed touches). ``maps``: maps already drawn, by seed (skips those t-SNE runs).
    One row per seed: its pairs, how many it shares with the embedding's and with the first seed's, and the median
    and largest move of a point between that map and the first seed's, after aligning them (in units of the first
    map's spread)."""
    from audiotag.evaluation.embeddings import overlapping_classes, tsne_map

    def pairs_of(points):
        table = overlapping_classes(points, labels, k=k, top=top)
        return {f"{a} / {b}" for a, b in zip(table["class_a"], table["class_b"])}

    maps = dict(maps or {})
    reference = pairs_of(vectors)
    rows, first_pairs, first_map = {}, None, None
    for seed in seeds:
        xy = maps[seed] if seed in maps else tsne_map(vectors, seed=seed)
        pairs = pairs_of(xy)
        if first_pairs is None:
            first_pairs, first_map = pairs, xy
        rows[f"seed {seed}"] = {"pairs in the map": "; ".join(sorted(pairs)),
                                "shared with the embedding's": len(pairs & reference),
                                "shared with the first seed's": len(pairs & first_pairs),
                                **dict(zip(("median move of a point", "largest move of a point"),
                                           _moves(first_map, xy)))}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "t-SNE map"
    out.attrs["embedding pairs"] = sorted(reference)
    return out


def _moves(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Median and largest distance between matching points of two 2-D maps after the best rotation, reflection,
    scale and shift of ``b`` onto ``a`` (Procrustes), in units of ``a``'s root-mean-square spread."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a, axis=0)
    b = np.asarray(b, dtype=np.float64) - np.mean(b, axis=0)
    spread = np.sqrt((a ** 2).sum(axis=1).mean())
    if spread == 0 or not np.any(b):
        return 0.0, 0.0
    u, s, vt = np.linalg.svd(b.T @ a)
    rotation = u @ vt
    scale = s.sum() / (b ** 2).sum()
    moved = np.linalg.norm(a - scale * b @ rotation, axis=1) / spread
    return float(np.median(moved)), float(moved.max())
