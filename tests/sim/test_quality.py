"""Replay + evaluate on a fault-heavy simulation: the detector against the oracle."""

from parcelwatch.sim.evaluate import evaluate


def test_detection_matches_the_ground_truth(faulty_run):
    out, _, _ = faulty_run
    result = evaluate(out / "truth.jsonl", out / "replay" / "exceptions.jsonl")
    for name, score in result["types"].items():
        if name == "DELAY_PREDICTED":
            continue  # a prediction: measured, reported, not held to the bar
        assert score["recall"] >= 0.9, (name, score)
        assert score["precision"] >= 0.9, (name, score)
    # Every fault here is about ten times as frequent as by default; a parcel whose
    # scans stopped (left on a truck, say) is not predicted late for a day unless its
    # scans resume (delay_predicted_quiet_scans_hours), which trades some recall here
    # for precision on scanners gone quiet (docs/eta.md has the default run's figures).
    predicted = result["types"]["DELAY_PREDICTED"]
    assert predicted["recall"] >= 0.88 and predicted["precision"] >= 0.9, predicted
