"""Precision: what ``auto`` picks, and the ``AUDIOTAG_PRECISION`` override."""
import pytest
import torch

from audiotag.training import devices
from audiotag.training.devices import PRECISION_ENV, precision_name, resolve_precision

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [True, False])
def test_auto_picks_bf16_only_where_the_cpu_has_it(native, monkeypatch):
    monkeypatch.delenv(PRECISION_ENV, raising=False)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: native)
    assert precision_name(resolve_precision("auto", CPU)) == ("bf16" if native else "fp32")


@pytest.mark.parametrize("forced", ["fp32", "bf16", "FP32 "])
def test_the_environment_overrides_auto_but_not_an_explicit_choice(forced, monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, forced)
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: forced.strip().lower() == "fp32")
    assert precision_name(resolve_precision("auto", CPU)) == forced.strip().lower()
    assert precision_name(resolve_precision("fp16", CPU)) == "fp16"


def test_a_bad_override_names_the_variable(monkeypatch):
    monkeypatch.setenv(PRECISION_ENV, "half")
    with pytest.raises(ValueError, match=f"{PRECISION_ENV}='half'"):
        resolve_precision("auto", CPU)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", CPU)


def test_results_record_the_precision_the_override_picks(monkeypatch, tmp_path):
    from audiotag.book.results import write_results

    monkeypatch.setenv(PRECISION_ENV, "fp32")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    record = write_results(tmp_path / "results.json", profile="cpu", dataset="synthetic", run_root=tmp_path,
                           wall_seconds=1.0, repo_root=tmp_path)
    assert record["machine"]["precision"] == "fp32"
