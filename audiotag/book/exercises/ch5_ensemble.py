"""Chapter 5, "Ensembles and evaluation": the solutions of its exercises, and the small helpers its page uses.

Exercises (labels ``ex-ensemble-*`` in ``notebooks/05_ensemble.ipynb``):

* ``ex-ensemble-toy`` - :func:`toy_combinations`: mean vs rank averaging on the chapter's toy example (3 clips,
  2 classes, 2 models), with any weights;
* ``ex-ensemble-squared`` - :func:`power_invariance`: square one member's probabilities; rank averaging does not
  move (ranks are invariant to any increasing transform), the mean does;
* ``ex-ensemble-public-private`` - :func:`subset_widths`: the bootstrap interval of the public part vs the private
  part, and the ratio of their widths beside the square root of the ratio of their sizes;
* ``ex-ensemble-halve`` - :func:`width_by_size`: how the interval narrows when the test set grows (4 times the clips
  for half the width);
* ``ex-ensemble-weights`` - :func:`oof_weight_search`: choose the share of two runs' weights on out-of-fold scores,
  never on the test set.

Helpers of the page (tested like the solutions): :func:`mistake_examples` and :func:`mistake_sentence` ("listen to
the mistakes"), :func:`listen_clip` and :func:`clip_logmel` (a clip at its own sample rate, and its picture),
:func:`differences_sentence` (which differences are real), :func:`build_spread` and :func:`spread_sentence`
(the run-to-run spread of two builds of one commit).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from audiotag.evaluation.ensembles import arithmetic_mean, combine, normalised_ranks, rank_average
from audiotag.evaluation.uncertainty import bootstrap_interval, score_intervals
from audiotag.training.metrics import map3, top_k
from audiotag.training.prediction_sets import Predictions

# ------------------------------------------------------------------------------------------------ the toy example
#: The toy example's clips and classes.
TOY_CLIPS = ("clip 1", "clip 2", "clip 3")
TOY_CLASSES = ("Bark", "Meow")
#: Two models' probabilities (rows: clips, columns: Bark, Meow). Model A is confident (far from 0.5), model B
#: timid (always near 0.5); on clip 3 they disagree.
TOY_MODELS = {
    "A": np.array([[0.90, 0.10], [0.20, 0.80], [0.60, 0.40]]),
    "B": np.array([[0.55, 0.45], [0.48, 0.52], [0.45, 0.55]]),
}


def toy_combinations(models: Mapping[str, np.ndarray] | None = None, weights: Sequence[float] | None = None,
                     clips: Sequence[str] = TOY_CLIPS, classes: Sequence[str] = TOY_CLASSES) -> pd.DataFrame:
    """Mean of probabilities vs rank averaging, clip by clip (exercise ``ex-ensemble-toy``).

    ``models`` maps a model's name to its ``(clips, classes)`` probabilities (default :data:`TOY_MODELS`),
    ``weights`` gives one weight per model (default: equal). Returns one row per clip with two-level columns:
    each model's probabilities, their weighted mean, each model's normalised ranks
    (:func:`audiotag.evaluation.ensembles.normalised_ranks`: 0 = lowest score of that class over the clips,
    1 = highest), their weighted mean, and the class each method picks (``mean picks``, ``rank picks``).
    """
    models = dict(TOY_MODELS if models is None else models)
    names = list(models)
    probs = [np.asarray(models[m], dtype=float) for m in names]
    w = np.ones(len(names)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(names),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"need one non-negative weight per model ({len(names)}), not all zero; got {weights}")
    w = w / w.sum()
    ranks = [normalised_ranks(p) for p in probs]
    mean = sum(wi * p for wi, p in zip(w, probs))
    rank_mean = sum(wi * r for wi, r in zip(w, ranks))
    blocks = {}
    for m, p in zip(names, probs):
        blocks[f"model {m}: probability"] = p
    blocks["mean of probabilities"] = mean
    for m, r in zip(names, ranks):
        blocks[f"model {m}: normalised rank"] = r
    blocks["mean of normalised ranks"] = rank_mean
    columns = pd.MultiIndex.from_tuples([(block, c) for block in blocks for c in classes])
    table = pd.DataFrame(np.hstack(list(blocks.values())), index=pd.Index(list(clips), name="clip"),
                         columns=columns)
    table[("mean picks", "")] = [classes[j] for j in mean.argmax(axis=1)]
    table[("rank picks", "")] = [classes[j] for j in rank_mean.argmax(axis=1)]
    return table


# -------------------------------------------------------------------------------------- monotone transforms
def power_invariance(probs_list: Sequence[np.ndarray], weights: Sequence[float] | None = None, member: int = 0,
                     power: float = 2.0) -> pd.Series:
    """Raise one member's probabilities to ``power`` (exercise ``ex-ensemble-squared``) and count what changes.

    Any power > 0 is an increasing transform of numbers in [0, 1]: it keeps every clip's place in each class's
    ranking, so rank averaging gives exactly the same scores, while the weighted mean moves. Returns the number of
    clips, how many change their top label under rank averaging and under the mean, and the largest change of a
    rank-averaged and of a mean score.
    """
    if power <= 0:
        raise ValueError(f"power must be positive (an increasing transform), not {power}")
    probs_list = [np.asarray(p, dtype=np.float64) for p in probs_list]
    if not 0 <= member < len(probs_list):
        raise ValueError(f"member {member} out of range: {len(probs_list)} members")
    changed = list(probs_list)
    changed[member] = probs_list[member] ** power
    out = {"clips": len(probs_list[0])}
    for name, fn in (("rank averaging", rank_average), ("mean", arithmetic_mean)):
        before, after = fn(probs_list, weights), fn(changed, weights)
        out[f"top label changed ({name})"] = int((before.argmax(axis=1) != after.argmax(axis=1)).sum())
        out[f"largest score change ({name})"] = float(np.abs(before - after).max())
    return pd.Series(out, name=f"member {member} to the power {power:g}", dtype=object)


# ------------------------------------------------------------------------------------------- interval widths
def subset_widths(pred: Predictions, test, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The 95% bootstrap interval of MAP@3 on the public and on the private test clips (exercise
    ``ex-ensemble-public-private``).

    One row per part: ``clips``, ``MAP@3``, ``low``, ``high``, ``width``, ``width / private width`` and
    ``sqrt(private clips / clips)``: the width of an interval of a mean shrinks as one over the square root of the
    number of clips, so the last two columns should be close."""
    rows = {}
    for part in ("public", "private"):
        table = score_intervals({"system": pred}, test, subset=part, n_boot=n_boot, seed=seed)
        r = table.iloc[0]
        rows[part] = {"clips": int(r["clips"]), "MAP@3": float(r["MAP@3"]), "low": float(r["low"]),
                      "high": float(r["high"]), "width": float(r["high"] - r["low"])}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "part of the test set"
    out["width / private width"] = out["width"] / out.loc["private", "width"]
    out["sqrt(private clips / clips)"] = np.sqrt(out.loc["private", "clips"] / out["clips"])
    return out


def width_by_size(values, factors: Sequence[float] = (1, 2, 4), n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """How wide a 95% interval would be on a test set ``factor`` times as large (exercise ``ex-ensemble-halve``).

    ``values``: one AP@3 per scored clip (:func:`audiotag.evaluation.uncertainty.per_clip_map3`). A bigger test set
    "like this one" is simulated by drawing ``factor * n`` clips from these values with replacement; its interval is
    then bootstrapped. Columns: ``clips``, ``width``, ``width / first width`` (relative to the first factor's) and
    ``sqrt(first factor / factor)`` (what the square-root law predicts: 1/2 for 4 times the clips)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError("values: one number per clip (a non-empty 1-D array)")
    rng = np.random.default_rng(seed)
    rows = {}
    for f in factors:
        if f <= 0:
            raise ValueError(f"factors must be positive, not {f}")
        n = max(1, int(round(f * len(values))))
        sample = values if n == len(values) else rng.choice(values, size=n, replace=True)
        interval = bootstrap_interval(sample, n_boot=n_boot, seed=seed)
        rows[f] = {"clips": n, "width": interval.width}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "test set size factor"
    first = out["width"].iloc[0] if out["width"].iloc[0] > 0 else np.nan
    factor = np.asarray(out.index, dtype=float)
    out["width / first width"] = out["width"] / first
    out["sqrt(first factor / factor)"] = np.sqrt(factor[0] / factor)
    return out


# ----------------------------------------------------------------------------------------- weights on OOF
def oof_weight_search(oof_a: Predictions, oof_b: Predictions, labels: pd.Series, method: str = "rank",
                      shares: Sequence[float] = tuple(np.linspace(0, 1, 11))) -> pd.DataFrame:
    """The out-of-fold MAP@3 of ``a`` and ``b`` combined with weights ``share : 1 - share`` (exercise
    ``ex-ensemble-weights``).

    ``labels``: training labels (``fname -> label``), e.g. an :class:`~audiotag.evaluation.ensembles.EnsembleResult`'s
    ``labels``. Only out-of-fold predictions are used, so the chosen share is an honest choice (no test label is
    read). Returns one row per share (index ``weight of a``) with ``OOF MAP@3``, and ``best`` (true for the best
    share, the first one on a tie)."""
    fnames = oof_a.fnames
    missing = [f for f in fnames if f not in labels.index]
    if missing:
        raise ValueError(f"no training label for {len(missing)} out-of-fold clips, e.g. {missing[:3]}")
    index = {c: i for i, c in enumerate(oof_a.classes)}
    targets = np.array([index[label] for label in labels[fnames]])
    scores = {}
    for share in shares:
        if not 0 <= share <= 1:
            raise ValueError(f"shares must lie in [0, 1], not {share}")
        combined = combine([oof_a, oof_b], method, [share, 1 - share], "search")
        scores[round(float(share), 6)] = map3(combined.probs, targets)
    out = pd.DataFrame({"OOF MAP@3": pd.Series(scores)})
    out.index.name = f"weight of {oof_a.name or 'a'}"
    out["best"] = False
    out.iloc[int(np.argmax(out["OOF MAP@3"].to_numpy())), out.columns.get_loc("best")] = True
    return out


# ------------------------------------------------------------------------------------ listen to the mistakes
def mistake_examples(pred: Predictions, test: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """For each confused pair (rows of :func:`audiotag.evaluation.scores.confused_pairs`: ``true``, ``predicted``,
    ``count``, ``share``), a test clip of the true class that was given the predicted label first (the most
    confident such mistake), and a typical clip of the predicted class (its clip, correctly predicted, with the
    highest score for that class).

    ``test``: the test table (``fname``, ``label``; ``usage`` if any, only scored clips are used). Columns added:
    ``mistaken`` (fname), ``score of predicted``, ``score of true``, ``rank of true`` (1 = first label) and
    ``typical`` (fname, or ``None`` when no clip of the predicted class was predicted right)."""
    from audiotag.evaluation.scores import scored_clips

    clips = scored_clips(test)
    probs = pred.align(clips.fnames).probs
    targets = clips.targets(pred.classes)
    index = {c: i for i, c in enumerate(pred.classes)}
    top1 = top_k(probs, 1)[:, 0]
    order = np.argsort(-probs, axis=1, kind="stable")
    rows = []
    for pair in pairs.itertuples(index=False):
        t, p = index[pair.true], index[pair.predicted]
        wrong = np.flatnonzero((targets == t) & (top1 == p))
        if len(wrong) == 0:
            continue
        i = int(wrong[np.argmax(probs[wrong, p])])
        right = np.flatnonzero((targets == p) & (top1 == p))
        typical = clips.fnames[int(right[np.argmax(probs[right, p])])] if len(right) else None
        rows.append({"true": pair.true, "predicted": pair.predicted, "count": int(pair.count),
                     "share": float(pair.share), "mistaken": clips.fnames[i],
                     "score of predicted": float(probs[i, p]), "score of true": float(probs[i, t]),
                     "rank of true": int(np.flatnonzero(order[i] == t)[0]) + 1, "typical": typical})
    out = pd.DataFrame(rows, columns=["true", "predicted", "count", "share", "mistaken", "score of predicted",
                                      "score of true", "rank of true", "typical"])
    out["typical"] = out["typical"].astype(object).where(out["typical"].notna(), None)    # None, never NaN
    return out


def mistake_sentence(row) -> str:
    """One sentence about a row of :func:`mistake_examples`: how often, and what the mistake cost in MAP@3."""
    clips = "clip" if row["count"] == 1 else "clips"
    rank = int(row["rank of true"])
    cost = (f"came {_ordinal(rank)}, so the clip still earns 1/{rank} for MAP@3" if rank <= 3 else
            f"came {_ordinal(rank)}, outside the top 3, so the clip earns 0 for MAP@3")
    text = (f"{row['true']} → {row['predicted']}: {row['count']} test {clips} of {row['true']} "
            f"({row['share']:.0%} of that class) got {row['predicted']} as first label. In the clip to hear, "
            f"{row['true']} {cost}.")
    if row["typical"] is None or (isinstance(row["typical"], float) and np.isnan(row["typical"])):
        text += f" No clip of {row['predicted']} was predicted right, so there is no typical one to hear."
    return text


def _ordinal(n: int) -> str:
    """first, second, third, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 23rd, ..."""
    if n in (1, 2, 3):
        return ("first", "second", "third")[n - 1]
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def listen_clip(path, max_seconds: float = 4.0) -> tuple[np.ndarray, int]:
    """A clip at its own sample rate, cut to its loudest ``max_seconds`` (a 30 s clip would weigh megabytes in the
    page): ``(wave, rate)``."""
    from audiotag.data.audio import audio_info, load_audio

    rate = int(audio_info(path).samplerate)
    wave = load_audio(path, rate)
    n = int(round(max_seconds * rate))
    if len(wave) <= n:
        return wave, rate
    energy = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    starts = np.arange(0, len(wave) - n + 1, max(1, rate // 20))
    best = int(starts[np.argmax(energy[starts + n] - energy[starts])])
    return wave[best:best + n], rate


def clip_logmel(wave: np.ndarray, rate: int, n_mels: int = 64) -> tuple[np.ndarray, int]:
    """A log-mel picture of a clip, in dB: ``(feature (n_mels, frames), hop_length)``, with a window of about 46 ms
    and a hop of a quarter of it at the clip's own rate."""
    import torch

    from audiotag.features.spectral import log_mel

    n_fft = int(2 ** np.round(np.log2(0.046 * rate)))
    hop = n_fft // 4
    wave = np.asarray(wave, dtype=np.float32)
    if len(wave) < n_fft:
        wave = np.pad(wave, (0, n_fft - len(wave)))
    with torch.no_grad():
        feature = log_mel(torch.from_numpy(wave), rate, n_fft, hop, n_mels=n_mels).numpy()
    return feature, hop


# ------------------------------------------------------------------------------------ differences and spread
def differences_sentence(table: pd.DataFrame) -> str:
    """A sentence from a :func:`audiotag.evaluation.uncertainty.difference_table`: which stated differences are real
    on these clips (the paired interval excludes 0) and which are within the test set's noise."""
    real, noise = [], []
    for name, r in table.iterrows():
        text = f"{name} ({r['difference']:+.3f}, {r['low']:+.3f} to {r['high']:+.3f})"
        (real if r["low"] > 0 or r["high"] < 0 else noise).append(text)
    clips = table.attrs.get("clips")
    where = f"on these {clips} clips" if clips else "on these clips"
    parts = []
    if real:
        parts.append(f"Real {where}: " + "; ".join(real) + ".")
    if noise:
        parts.append("Within the test set's noise (the paired interval contains 0): " + "; ".join(noise) + ".")
    return " ".join(parts)


def build_spread(builds: Mapping[str, dict], names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The whole-test MAP@3 of each system in several builds (results files, as in ``book/measured/``), side by
    side, with ``spread`` = largest minus smallest. ``names``: system key -> row name (default
    :data:`audiotag.book.results.SYSTEMS`). Rows in that order; a system missing from a build shows NaN."""
    from audiotag.book.results import SYSTEMS

    names = dict(SYSTEMS if names is None else names)
    keys = [k for k in names if any(k in b.get("test_map3", {}) for b in builds.values())]
    table = pd.DataFrame({label: [b.get("test_map3", {}).get(k, {}).get("whole", np.nan) for k in keys]
                          for label, b in builds.items()}, index=pd.Index([names[k] for k in keys],
                                                                          name="system (whole test MAP@3)"))
    table["spread"] = table.max(axis=1) - table.min(axis=1)
    return table


def spread_sentence(spread: pd.DataFrame, widths: pd.Series | None = None) -> str:
    """A sentence from :func:`build_spread`: the largest run-to-run spread, and (``widths``: each row's 95%
    interval width in a comparable build) how it compares with the test set's own interval."""
    moved = spread["spread"].dropna()
    if moved.empty:
        return "No system appears in more than one build."
    name = moved.idxmax()
    text = f"The largest spread between the builds is {moved.max():.3f}, for the {name}"
    still = moved[moved < 5e-4]
    if len(still):
        text += f"; {', '.join(still.index)} did not move"
    if widths is not None and name in widths.index and np.isfinite(widths[name]) and widths[name] > 0:
        text += (f". The 95% interval of that system here is {widths[name]:.3f} wide (± {widths[name] / 2:.3f}), so "
                 f"the spread between two trainings is {moved.max() / widths[name]:.0%} of its width and "
                 f"{2 * moved.max() / widths[name]:.0%} of its half width")
    return text + "."
