import io

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from audiotag.evaluation import paper_results  # noqa: E402
from audiotag.evaluation.scores import (EvaluationError, ScoredClips, confused_pairs, confusion_figure,  # noqa: E402
                                        confusion_matrix, oof_score_table, per_class_table, score_table,
                                        submission_frame, write_submission)
from audiotag.data.labels import LABELS  # noqa: E402
from audiotag.training.prediction_sets import Predictions, PredictionsError  # noqa: E402

CLASSES = ("a", "b", "c", "d")


def one_hot_ranking(ranked: list[str], classes=CLASSES) -> np.ndarray:
    """Scores that rank ``ranked`` first, second, ... (the rest below)."""
    row = np.zeros(len(classes))
    for i, label in enumerate(ranked):
        row[classes.index(label)] = len(ranked) - i
    return row / row.sum()


@pytest.fixture
def small_test():
    # Clip -> true label, usage, and a ranking that puts the truth at rank 1, 2, 3 or nowhere.
    rows = [
        ("p1", "a", "Public", ["a", "b", "c"]),     # AP 1
        ("p2", "b", "Public", ["a", "b", "c"]),     # AP 1/2
        ("q1", "c", "Private", ["a", "b", "c"]),    # AP 1/3
        ("q2", "d", "Private", ["a", "b", "c"]),    # AP 0
        ("q3", "d", "Private", ["d", "a", "b"]),    # AP 1
        ("ig", None, "Ignored", ["a", "b", "c"]),   # not scored
    ]
    test = pd.DataFrame([r[:3] for r in rows], columns=["fname", "label", "usage"])
    pred = Predictions([r[0] for r in rows], np.stack([one_hot_ranking(r[3]) for r in rows]), CLASSES, "toy")
    return test, pred


def test_score_table_whole_public_private(small_test):
    test, pred = small_test
    shuffled = pred.align(["q3", "ig", "p2", "q1", "p1", "q2"])  # alignment is by fname, not position
    table = score_table({"toy": pred, "shuffled": shuffled}, test)
    assert list(table.columns) == ["map3_whole", "map3_public", "map3_private",
                                   "accuracy_whole", "accuracy_public", "accuracy_private"]
    row = table.loc["toy"]
    assert row["map3_whole"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 0 + 1) / 5)
    assert row["map3_public"] == pytest.approx((1 + 1 / 2) / 2)
    assert row["map3_private"] == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert row["accuracy_whole"] == pytest.approx(2 / 5)
    assert row["accuracy_public"] == pytest.approx(1 / 2)
    assert row["accuracy_private"] == pytest.approx(1 / 3)
    pd.testing.assert_series_equal(table.loc["shuffled"], row, check_names=False)
    assert table.attrs["n_clips"] == {"whole": 5, "public": 2, "private": 3}

    # The same from arrays; predictions that miss a scored clip are refused.
    clips = ScoredClips(["p1", "p2"], ["a", "b"], ["Public", "Private"])
    assert score_table(pred, clips).loc["toy", "map3_private"] == pytest.approx(0.5)
    with pytest.raises(PredictionsError, match="must cover every scored test clip"):
        score_table({"partial": pred.align(["p1", "p2"])}, test)
    with pytest.raises(EvaluationError, match="no scored clips"):
        score_table(pred, test.assign(label=None))


def test_per_class_table_hand_case_and_paper_columns():
    # Three Hi-hat clips (2 private, 1 public) and one Flute clip; everything else absent.
    hihat, flute, clarinet = LABELS.index("Hi-hat"), LABELS.index("Flute"), LABELS.index("Clarinet")
    probs = np.full((4, len(LABELS)), 0.001)
    probs[0, hihat] = 0.9                               # private, rank 1 -> 1
    probs[1, [clarinet, hihat]] = [0.6, 0.3]            # private, rank 2 -> 1/2
    probs[2, [clarinet, flute, hihat]] = [0.5, 0.3, 0.1]  # public, rank 3 -> 1/3
    probs[3, [clarinet, flute]] = [0.7, 0.2]            # Flute, private, rank 2 -> 1/2
    pred = Predictions(["h1", "h2", "h3", "f1"], probs / probs.sum(1, keepdims=True), LABELS)
    test = pd.DataFrame({"fname": ["h1", "h2", "h3", "f1"], "label": ["Hi-hat", "Hi-hat", "Hi-hat", "Flute"],
                         "usage": ["Private", "Private", "Public", "Private"]})
    table = per_class_table(pred, test, with_paper=True)
    assert list(table.columns) == ["score(whole)", "score(private)", "score(public)", "paper(whole)",
                                   "paper(private)", "paper(public)", "count(whole)", "count(private)",
                                   "count(public)"]
    assert list(table.index) == list(LABELS)
    assert table.loc["Hi-hat", "score(whole)"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert table.loc["Hi-hat", "score(private)"] == pytest.approx(3 / 4)
    assert table.loc["Hi-hat", "score(public)"] == pytest.approx(1 / 3)
    assert table.loc["Flute", "score(public)"] != table.loc["Flute", "score(public)"]  # NaN: no public Flute clip
    assert table.loc["Hi-hat", ["paper(whole)", "paper(private)", "paper(public)"]].tolist() == [0.9829, 1.0, 0.9048]
    assert table.loc["Squeak", "paper(whole)"] == 0.5230
    assert table.loc["Hi-hat", "count(whole)"] == 3
    assert "paper(whole)" not in per_class_table(pred, test).columns


def test_paper_tables_use_dataset_spelling():
    t5 = paper_results.table5()
    assert len(t5) == 41 and set(t5.index) == set(LABELS)
    assert "Hi_hat" in paper_results.table5("paper").index
    assert paper_results.table3().loc["3 s", "LB score"] == 0.873
    assert paper_results.leaderboard().loc["submission 2 (rank-averaged ensemble)", "private"] == 0.942


def test_submission_csv_format(tmp_path):
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    pred = Predictions(["x.wav", "y.wav"], probs, CLASSES)
    path = write_submission(pred, tmp_path / "sub" / "submission.csv")
    assert path.read_text().splitlines() == ["fname,label", "x.wav,d c b", "y.wav,a b c"]
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]  # no temporary files left behind
    assert submission_frame(pred, k=1)["label"].tolist() == ["d", "a"]


def test_confusion_matrix_pairs_and_figure():
    # True Flute predicted Clarinet twice, Chime -> Cowbell once, one correct Chime.
    truth = ["Flute", "Flute", "Flute", "Chime", "Chime"]
    predicted = ["Clarinet", "Clarinet", "Flute", "Cowbell", "Chime"]
    probs = np.full((5, len(LABELS)), 0.01)
    for i, label in enumerate(predicted):
        probs[i, LABELS.index(label)] = 0.9
    fnames = [f"c{i}" for i in range(5)]
    pred = Predictions(fnames, probs / probs.sum(1, keepdims=True), LABELS)
    test = pd.DataFrame({"fname": fnames, "label": truth, "usage": ["Private"] * 4 + ["Public"]})
    matrix = confusion_matrix(pred, test)
    assert matrix.shape == (41, 41) and matrix.to_numpy().sum() == 5
    assert matrix.loc["Flute", "Clarinet"] == 2 and matrix.loc["Chime", "Chime"] == 1
    pairs = confused_pairs(matrix)
    assert pairs.to_dict("records") == [
        {"true": "Flute", "predicted": "Clarinet", "count": 2, "share": pytest.approx(2 / 3)},
        {"true": "Chime", "predicted": "Cowbell", "count": 1, "share": pytest.approx(1 / 2)},
    ]
    assert confusion_matrix(pred, test, "public").to_numpy().sum() == 1

    fig = confusion_figure(matrix)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(LABELS)
    assert ax.images[0].get_array()[LABELS.index("Flute"), LABELS.index("Clarinet")] == pytest.approx(2 / 3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_oof_score_table():
    pred = Predictions(["t1", "t2"], [[0.9, 0.1, 0, 0], [0.6, 0.4, 0, 0]], CLASSES, "run")
    table = oof_score_table({"run": pred}, pd.Series({"t1": "a", "t2": "b"}))
    assert table.loc["run"].tolist() == pytest.approx([0.75, 0.5, 2])
