"""The ``python -m skalign gw`` demo runs and reports FOSCTTM in [0, 1]."""

import pytest

from skalign.alignment._demo import run_demo


@pytest.mark.slow
def test_run_demo_prints_foscttm(capsys):
    result = run_demo(seed=0, max_epochs=1)
    out = capsys.readouterr().out
    assert "FOSCTTM" in out
    assert all(0.0 <= value <= 1.0 for value in result["foscttm"])
    assert 0.0 <= result["label_transfer"] <= 1.0
