"""Golden regression test of the shipped dual-head model on a fixed phantom.

Regenerate (after retraining, or after a deliberate change to the phantom generator) with
``python tests/methods/test_golden_dualhead.py``.
"""

import json
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).with_name("golden_dualhead.json")
PHANTOM = {"preset": "lumbosacral", "seed": 7}


def _predict():
    from spinemark.methods.dualhead import default_weights_path, make
    from spinemark.synth import make_phantom

    weights = default_weights_path()
    ph = make_phantom(**PHANTOM)
    method = make(weights, threads=2)
    pred = method.predict(ph.image)
    return method.model_info["sha256"], pred


def test_shipped_model_output_is_pinned():
    pytest.importorskip("torch")
    pytest.importorskip("spinemark.synth", reason="phantom generator not available")
    from spinemark.methods.dualhead import default_weights_path

    try:
        default_weights_path()
    except FileNotFoundError:
        pytest.skip("no shipped weights")
    if not GOLDEN.is_file():
        pytest.skip("no golden file yet")
    golden = json.loads(GOLDEN.read_text())
    sha, pred = _predict()
    assert sha == golden["sha256"], "shipped weights changed: regenerate the golden file"
    assert pred.landmarks.names == [p["name"] for p in golden["landmarks"]]
    got = pred.landmarks.positions_mm
    want = np.array([p["position_mm"] for p in golden["landmarks"]]).reshape(-1, 3)
    assert np.allclose(got, want, atol=0.5)


if __name__ == "__main__":
    sha, pred = _predict()
    GOLDEN.write_text(json.dumps({
        "phantom": PHANTOM, "sha256": sha,
        "landmarks": [{"name": p.name, "position_mm": [round(v, 3) for v in p.position_mm],
                       "confidence": round(p.confidence, 3)} for p in pred.landmarks],
        "warnings": pred.warnings,
    }, indent=2) + "\n")
    print(GOLDEN.read_text())
