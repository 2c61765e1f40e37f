"""Dataset loaders on tiny datasets built in tmp_path: both FSDKaggle2018 layouts and folder + CSV."""
import csv
from pathlib import Path

import numpy as np
import pytest

from audiotag.data.audio import write_audio
from audiotag.data.datasets import (DatasetError, TaggingDataset, UNLABELLED, detect_fsd_layout, load_dataset,
                                    load_fsdkaggle2018, load_folder_dataset)
from audiotag.data.labels import LABELS

TRAIN = [  # fname, label, manually_verified
    ("a1.wav", "Bark", 1), ("a2.wav", "Bark", 0), ("a3.wav", "Writing", 1),
    ("a4.wav", "Acoustic_guitar", 0), ("a5.wav", "Hi-hat", 1),
]
TEST = [  # fname, label, usage
    ("t1.wav", "Bark", "Public"), ("t2.wav", "Writing", "Private"), ("t3.wav", "Hi-hat", "Private"),
]
IGNORED = [("t4.wav", "None", "Ignored"), ("t5.wav", "Meow", "Ignored")]


def write_wavs(folder: Path, fnames):
    for i, f in enumerate(fnames):
        write_audio(folder / f, np.full(64, 0.01 * (i + 1), dtype=np.float32), 44100)


def write_csv(path: Path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def make_zenodo(root: Path, train=TRAIN, test=TEST) -> Path:
    write_wavs(root / "FSDKaggle2018.audio_train", [r[0] for r in train])
    write_wavs(root / "FSDKaggle2018.audio_test", [r[0] for r in test])
    write_csv(root / "FSDKaggle2018.meta/train_post_competition.csv",
              ["fname", "label", "manually_verified", "freesound_id", "license"],
              [(*r, 1000 + i, "Attribution") for i, r in enumerate(train)])
    write_csv(root / "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv",
              ["fname", "label", "usage", "freesound_id", "license"],
              [(*r, 2000 + i, "Creative Commons 0") for i, r in enumerate(test)])
    return root


def make_kaggle(root: Path, train=TRAIN, test=TEST + IGNORED, original_train_csv=False, test_csv=True) -> Path:
    write_wavs(root / "audio_train", [r[0] for r in train])
    write_wavs(root / "audio_test", [r[0] for r in test])
    if original_train_csv:
        write_csv(root / "train.csv", ["fname", "label", "manually_verified"], train)
    else:
        write_csv(root / "train_post_competition.csv", ["fname", "label", "manually_verified", "freesound_id",
                                                        "license"], [(*r, 1, "Attribution") for r in train])
    if test_csv:
        write_csv(root / "test_post_competition.csv", ["fname", "label", "usage", "freesound_id", "license"],
                  [(*r, 2, "Attribution") for r in test])
    return root


def test_zenodo_layout_loads_as_published(tmp_path):
    ds = load_fsdkaggle2018(make_zenodo(tmp_path))
    assert ds.name == "fsdkaggle2018" and ds.classes == LABELS and ds.num_classes == 41
    assert list(ds.train.columns[:5]) == ["fname", "label", "label_index", "manually_verified", "path"]
    assert list(ds.test.columns[:5]) == ["fname", "label", "label_index", "usage", "path"]
    assert ds.train["fname"].tolist() == [r[0] for r in TRAIN]
    assert ds.train["label_index"].tolist() == [LABELS.index(r[1]) for r in TRAIN]
    assert ds.train["label_index"].dtype == np.int64
    assert ds.train["manually_verified"].dtype == bool
    assert ds.train["manually_verified"].tolist() == [True, False, True, False, True]
    for p in list(ds.train["path"]) + list(ds.test["path"]):
        assert Path(p).is_absolute() and Path(p).is_file()
    assert Path(ds.train["path"][0]).parent.name == "FSDKaggle2018.audio_train"
    assert ds.test["usage"].tolist() == ["Public", "Private", "Private"]
    assert ds.train["freesound_id"].tolist()[:2] == ["1000", "1001"]  # extra CSV columns are kept
    assert len(ds.scored_test()) == 3 and ds.has_scored_test


def test_kaggle_layout_scored_test_excludes_ignored(tmp_path):
    ds = load_fsdkaggle2018(make_kaggle(tmp_path))
    assert detect_fsd_layout(tmp_path).name == "kaggle"
    assert len(ds.test) == 5
    scored = ds.scored_test()
    assert scored["fname"].tolist() == ["t1.wav", "t2.wav", "t3.wav"]
    assert set(scored["usage"]) == {"Public", "Private"}
    # Ignored padding clips are never validated: an out-of-vocabulary label just gets index -1.
    ignored = ds.test[ds.test["usage"] == "Ignored"]
    assert ignored["label_index"].tolist() == [UNLABELLED, LABELS.index("Meow")]


def test_original_train_csv_and_unlabelled_test_audio(tmp_path):
    ds = load_fsdkaggle2018(make_kaggle(tmp_path, original_train_csv=True, test_csv=False))
    assert list(ds.train.columns) == ["fname", "label", "label_index", "manually_verified", "path"]
    assert ds.train["manually_verified"].sum() == 3
    # test audio without ground truth: listed for prediction, not scorable
    assert ds.test["fname"].tolist() == ["t1.wav", "t2.wav", "t3.wav", "t4.wav", "t5.wav"]
    assert ds.test["label"].isna().all() and ds.test["usage"].isna().all()
    assert (ds.test["label_index"] == UNLABELLED).all()
    assert not ds.has_scored_test
    with pytest.raises(DatasetError, match="no ground truth"):
        ds.scored_test()
    assert ds.summary()[["test_public", "test_private"]].to_numpy().sum() == 0


def test_sample_submission_lists_unlabelled_test(tmp_path):
    make_kaggle(tmp_path, test_csv=False)
    write_csv(tmp_path / "sample_submission.csv", ["fname", "label"], [("t2.wav", "x"), ("t1.wav", "x")])
    assert load_dataset(tmp_path).test["fname"].tolist() == ["t2.wav", "t1.wav"]


def test_no_test_at_all_gives_none(tmp_path):
    root = make_kaggle(tmp_path, test=[], test_csv=False)
    assert not (root / "audio_test").exists()
    ds = load_dataset(root)
    assert ds.test is None and not ds.has_scored_test
    with pytest.raises(DatasetError, match="no test set"):
        ds.scored_test()


def test_post_competition_csv_preferred_over_original(tmp_path):
    make_kaggle(tmp_path)
    write_csv(tmp_path / "train.csv", ["fname", "label", "manually_verified"], [("zz.wav", "Bark", 1)])
    assert load_dataset(tmp_path).train["fname"].tolist() == [r[0] for r in TRAIN]


def test_load_dataset_autodetects_every_layout(tmp_path):
    assert load_dataset(make_zenodo(tmp_path / "z")).name == "fsdkaggle2018"
    assert load_dataset(make_kaggle(tmp_path / "k")).name == "fsdkaggle2018"
    folder = tmp_path / "f"
    write_wavs(folder, ["x.wav"])
    write_csv(folder / "labels.csv", ["fname", "label"], [("x.wav", "dog")])
    assert load_dataset(folder).name == "folder"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a recognised dataset"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="no such directory"):
        load_dataset(tmp_path / "nowhere")


def test_summary_counts_per_class(tmp_path):
    summary = load_dataset(make_kaggle(tmp_path)).summary()
    assert list(summary.index) == list(LABELS)
    assert list(summary.columns) == ["train", "verified", "test_public", "test_private"]
    assert summary.loc["Bark"].tolist() == [2, 1, 1, 0]
    assert summary.loc["Hi-hat"].tolist() == [1, 1, 0, 1]
    assert summary["train"].sum() == 5 and summary["test_private"].sum() == 2  # Ignored not counted
    assert summary.loc["Cello"].tolist() == [0, 0, 0, 0]


def test_unknown_label_is_listed(tmp_path):
    train = TRAIN + [("b1.wav", "Dog", 1), ("b2.wav", "Dog", 0), ("b3.wav", "Bird", 1)]
    make_zenodo(tmp_path, train=train)
    with pytest.raises(DatasetError) as err:
        load_fsdkaggle2018(tmp_path)
    msg = str(err.value)
    assert "train_post_competition.csv" in msg
    assert "2 label(s) not in the 41-label FSDKaggle2018 vocabulary" in msg
    assert "'Dog' (2 rows)" in msg and "'Bird' (1 row)" in msg


def test_unknown_label_in_scored_test_is_an_error(tmp_path):
    make_zenodo(tmp_path, test=TEST + [("t9.wav", "Kazoo", "Public")])
    with pytest.raises(DatasetError, match="'Kazoo'"):
        load_dataset(tmp_path)


def test_missing_files_are_listed_with_count(tmp_path):
    train = TRAIN + [(f"m{i:02d}.wav", "Bark", 1) for i in range(12)]
    make_zenodo(tmp_path, train=TRAIN)  # audio only for TRAIN
    write_csv(tmp_path / "FSDKaggle2018.meta/train_post_competition.csv",
              ["fname", "label", "manually_verified", "freesound_id", "license"],
              [(*r, 1, "Attribution") for r in train])
    with pytest.raises(DatasetError) as err:
        load_fsdkaggle2018(tmp_path)
    msg = str(err.value)
    assert "12 of 17 audio file(s) missing" in msg and "FSDKaggle2018.audio_train" in msg
    assert "m00.wav" in msg and "m09.wav" in msg and "m10.wav" not in msg  # first ten listed
    assert "and 2 more (12 in total)" in msg
    assert len(load_fsdkaggle2018(tmp_path, check_files=False).train) == 17


def test_duplicate_fname_is_an_error(tmp_path):
    make_zenodo(tmp_path, train=TRAIN + [("a2.wav", "Writing", 1)])
    with pytest.raises(DatasetError, match=r"1 fname\(s\) listed more than once: a2.wav"):
        load_dataset(tmp_path)


def test_all_problems_reported_together(tmp_path):
    make_zenodo(tmp_path, train=TRAIN + [("a1.wav", "Dog", "maybe"), ("gone.wav", "Bark", 1)])
    (tmp_path / "FSDKaggle2018.audio_train/gone.wav").unlink()
    with pytest.raises(DatasetError) as err:
        load_dataset(tmp_path)
    assert err.value.problems and len(err.value.problems) == 4
    msg = str(err.value)
    for part in ("4 problems", "listed more than once", "'Dog'", "manually_verified", "gone.wav"):
        assert part in msg


def test_bad_csv_columns_and_usage(tmp_path):
    make_zenodo(tmp_path, test=[("t1.wav", "Bark", "Secret")])
    with pytest.raises(DatasetError, match="usage must be one of Public, Private, Ignored; got Secret"):
        load_dataset(tmp_path)
    write_csv(tmp_path / "FSDKaggle2018.meta/train_post_competition.csv", ["file", "label"], [("a1.wav", "Bark")])
    with pytest.raises(DatasetError, match="missing column.*fname; found file, label"):
        load_dataset(tmp_path)


def test_folder_dataset_with_subfolders_classes_and_test(tmp_path):
    write_wavs(tmp_path / "audio", ["dog/1.wav", "dog/2.wav", "cat/1.flac", "bird/1.wav", "dog/3.wav"])
    write_csv(tmp_path / "labels.csv", ["fname", "label"],
              [("dog/1.wav", "dog"), ("dog/2.wav", "dog"), ("cat/1.flac", "cat")])
    write_csv(tmp_path / "test.csv", ["fname", "label"], [("dog/3.wav", "dog"), ("bird/1.wav", "cat")])
    ds = load_folder_dataset(tmp_path, audio_dir="audio", test_csv="test.csv")
    assert isinstance(ds, TaggingDataset) and ds.name == "folder"
    assert ds.classes == ("cat", "dog")  # sorted unique train labels
    assert ds.train["label_index"].tolist() == [1, 1, 0]
    assert ds.train["manually_verified"].all()
    assert all(Path(p).is_file() for p in ds.train["path"])
    assert ds.scored_test()["usage"].tolist() == ["Private", "Private"]
    assert ds.summary().loc["dog"].tolist() == [2, 2, 0, 1]
    # explicit classes fix the index order; load_dataset passes folder options through
    ds2 = load_dataset(tmp_path, audio_dir="audio", classes=["dog", "cat", "bird"])
    assert ds2.classes == ("dog", "cat", "bird") and ds2.train["label_index"].tolist() == [0, 0, 1]


def test_folder_dataset_errors(tmp_path):
    write_wavs(tmp_path, ["1.wav", "2.wav"])
    write_csv(tmp_path / "labels.csv", ["fname", "label"], [("1.wav", "dog"), ("2.wav", "cat")])
    write_csv(tmp_path / "test.csv", ["fname", "label"], [("2.wav", "cow")])
    with pytest.raises(DatasetError) as err:
        load_folder_dataset(tmp_path, test_csv="test.csv")
    assert "test.csv" in str(err.value) and "'cow'" in str(err.value) and "2 classes" in str(err.value)
    write_csv(tmp_path / "test.csv", ["fname", "label"], [("2.wav", "cat")])
    with pytest.raises(DatasetError, match="in both the train and the test CSV.*2.wav"):
        load_folder_dataset(tmp_path, test_csv="test.csv")
    with pytest.raises(DatasetError, match="not in the dataset's 1 classes: 'cat'"):
        load_folder_dataset(tmp_path, classes=["dog"])
    with pytest.raises(DatasetError, match="label CSV .*nope.csv not found"):
        load_folder_dataset(tmp_path, csv="nope.csv")
