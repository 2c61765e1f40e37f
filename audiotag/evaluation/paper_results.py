"""The paper's reported numbers, as data: Tables 3, 4 and 5 and the leaderboard scores (Wei, Liu, Ruan, 2018).

Kept here so that the book can put the paper's figures beside ours instead of copying them into prose. Every
value is transcribed from the report (section 3); nothing here is computed.

The paper writes the label ``Hi-hat`` as ``Hi_hat``; :func:`table5` returns our (the dataset's) spelling unless
asked for the paper's, so its rows join :data:`audiotag.data.labels.LABELS` directly.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from audiotag.data.labels import LABELS

#: Label spellings that differ between the paper and FSDKaggle2018 (paper -> dataset).
PAPER_TO_DATASET_LABEL: dict[str, str] = {"Hi_hat": "Hi-hat"}


@dataclass(frozen=True)
class LeaderboardScore:
    """One reported Kaggle score (MAP@3). ``None`` where the paper does not give that part."""

    system: str
    public: float | None = None
    private: float | None = None
    whole: float | None = None
    note: str = ""


#: Table 3: 1D-ConvNet with different input lengths (mean 5-fold validation accuracy, public LB score, stop epoch).
TABLE3: tuple[tuple[str, float, float, int], ...] = (
    ("2 s", 0.7031, 0.870, 58),
    ("3 s", 0.7142, 0.873, 83),
    ("4 s", 0.7205, 0.869, 59),
    ("5 s", 0.7252, 0.877, 72),
)

#: Table 4: 2D-ConvNet with different features (validation accuracy).
TABLE4: tuple[tuple[str, float], ...] = (
    ("mfcc", 0.7834),
    ("log-mel spectrogram", 0.8662),
    ("multi-resolution log-mel spectrogram", 0.8647),
    ("spectrogram", 0.7878),
)

#: Table 5: per-class MAP@3 of submission 2 on the whole / private / public test set, in the paper's row order
#: and spelling.
TABLE5: tuple[tuple[str, float, float, float], ...] = (
    ("Oboe", 0.9881, 0.9853, 1.0),
    ("Bass_drum", 1.0, 1.0, 1.0),
    ("Saxophone", 0.9803, 0.9754, 1.0),
    ("Chime", 0.8736, 0.8472, 1.0),
    ("Electric_piano", 0.9063, 0.8846, 1.0),
    ("Shatter", 0.9828, 0.9792, 1.0),
    ("Bark", 0.9821, 0.9783, 1.0),
    ("Acoustic_guitar", 0.9667, 0.9583, 1.0),
    ("Scissors", 0.7667, 0.7083, 1.0),
    ("Double_bass", 1.0, 1.0, 1.0),
    ("Knock", 0.9872, 0.9844, 1.0),
    ("Telephone", 0.7674, 0.7564, 0.8148),
    ("Violin_or_fiddle", 1.0, 1.0, 1.0),
    ("Gunshot_or_gunfire", 0.9259, 0.9379, 0.8750),
    ("Burping_or_eructation", 1.0, 1.0, 1.0),
    ("Clarinet", 1.0, 1.0, 1.0),
    ("Computer_keyboard", 0.9808, 0.9762, 1.0),
    ("Flute", 0.9727, 0.9659, 1.0),
    ("Cello", 0.9815, 0.9773, 1.0),
    ("Tambourine", 0.9833, 1.0, 0.9167),
    ("Drawer_open_or_close", 0.8793, 0.8542, 1.0),
    ("Snare_drum", 1.0, 1.0, 1.0),
    ("Fart", 1.0, 1.0, 1.0),
    ("Meow", 0.9828, 0.9792, 1.0),
    ("Trumpet", 0.9324, 0.9500, 0.8571),
    ("Fireworks", 0.8698, 0.8782, 0.8333),
    ("Bus", 0.8400, 0.8000, 1.0),
    ("Keys_jangling", 0.9107, 0.8913, 1.0),
    ("Applause", 1.0, 1.0, 1.0),
    ("Harmonica", 0.9091, 0.9074, 0.9167),
    ("Cough", 1.0, 1.0, 1.0),
    ("Gong", 0.9730, 0.9667, 1.0),
    ("Glockenspiel", 0.9023, 0.8819, 1.0),
    ("Tearing", 0.9630, 0.9545, 1.0),
    ("Writing", 0.8621, 0.8542, 0.9000),
    ("Squeak", 0.5230, 0.5069, 0.6000),
    ("Microwave_oven", 0.9310, 0.9167, 1.0),
    ("Laughter", 0.9737, 0.9677, 1.0),
    ("Finger_snapping", 1.0, 1.0, 1.0),
    ("Hi_hat", 0.9829, 1.0, 0.9048),
    ("Cowbell", 1.0, 1.0, 1.0),
)

#: The leaderboard scores the paper reports (sections 3.2 and 3.4).
LEADERBOARD: tuple[LeaderboardScore, ...] = (
    LeaderboardScore("baseline (5 epochs)", public=0.704, note="DCASE baseline CNN, as provided"),
    LeaderboardScore("baseline (more epochs)", public=0.798, note="the authors trained the baseline longer"),
    LeaderboardScore("1D-ConvNet 2 s", public=0.870, note="Table 3"),
    LeaderboardScore("1D-ConvNet 3 s", public=0.873, note="Table 3"),
    LeaderboardScore("1D-ConvNet 4 s", public=0.869, note="Table 3"),
    LeaderboardScore("1D-ConvNet 5 s", public=0.877, note="Table 3"),
    LeaderboardScore("2D-ConvNet log-mel (best)", public=0.961, private=0.938,
                     note="highest public score of a single 2D-ConvNet system"),
    LeaderboardScore("submission 2 (rank-averaged ensemble)", public=0.967, private=0.942, whole=0.947,
                     note="5 best of 7 2D-ConvNet folds + 3 best of 5 1D-ConvNet folds, weights 3:3:2:2:2:1:1:1"),
)

#: Submission 2's recipe, in :class:`audiotag.evaluation.ensembles.EnsembleSpec` terms (runs named ``2d`` and ``1d``).
SUBMISSION2 = {"method": "rank", "best": {"2d": 5, "1d": 3}, "weights": (3, 3, 2, 2, 2, 1, 1, 1)}


def dataset_label(paper_label: str) -> str:
    """The FSDKaggle2018 spelling of a label as the paper prints it (``Hi_hat`` -> ``Hi-hat``)."""
    return PAPER_TO_DATASET_LABEL.get(paper_label, paper_label)


def table3() -> pd.DataFrame:
    """Table 3 as a DataFrame indexed by input length."""
    return pd.DataFrame(TABLE3, columns=["data length", "val acc", "LB score", "stopping epoch"]).set_index(
        "data length")


def table4() -> pd.DataFrame:
    """Table 4 as a DataFrame indexed by feature."""
    return pd.DataFrame(TABLE4, columns=["feature", "val acc"]).set_index("feature")


def table5(spelling: str = "dataset") -> pd.DataFrame:
    """Table 5 indexed by category, columns ``score(whole)``, ``score(private)``, ``score(public)``.

    ``spelling="dataset"`` (default) renames ``Hi_hat`` to ``Hi-hat`` so the index matches our labels;
    ``"paper"`` keeps the paper's text. Rows stay in the paper's order.
    """
    if spelling not in ("dataset", "paper"):
        raise ValueError(f"spelling must be 'dataset' or 'paper', not {spelling!r}")
    rows = [(dataset_label(c) if spelling == "dataset" else c, w, pr, pu) for c, w, pr, pu in TABLE5]
    return pd.DataFrame(rows, columns=["category", "score(whole)", "score(private)", "score(public)"]).set_index(
        "category")


def leaderboard() -> pd.DataFrame:
    """The reported leaderboard scores, one row per system."""
    return pd.DataFrame([asdict(s) for s in LEADERBOARD]).set_index("system")


# The table must name each dataset label exactly once.
assert sorted(dataset_label(c) for c, *_ in TABLE5) == sorted(LABELS)
