"""Decision records and report texts of ``dropout.review`` and the concept-drift rule (no pipeline run needed)."""

import json

import pytest

from dropout.contract.settings import load_settings
from dropout.monitoring.drift import concept_drift
from dropout.pipeline import outputs
from dropout.review import approval, data_review


@pytest.fixture
def settings(tmp_path):
    env = {
        "DROPOUT__PIPELINE__ROOT": str(tmp_path / "pipeline"),
        "DROPOUT__PIPELINE__SCHEMA_DIR": str(tmp_path / "s"),
    }
    return load_settings(None, env=env)


def test_rejecting_a_batch_records_the_span_and_stops(settings, tmp_path):
    result = data_review.record_data_decision(
        settings,
        "manual__2026-11-23T09:00:00+00:00",
        3,
        "Reject batch",
        "steward",
        "2026-11-23T10:00:00+00:00",
    )
    assert result["proceed"] is False
    rejected = json.loads((tmp_path / "pipeline" / "rejected_spans" / "span-3.json").read_text())
    assert rejected["by"] == "steward" and rejected["span"] == 3
    record = json.loads(
        (
            tmp_path / "pipeline" / "reviews" / "manual__2026-11-23T09_00_00_00_00" / "data_decision.json"
        ).read_text()
    )
    assert record["decision"] == "Reject batch" and record["at"] == "2026-11-23T10:00:00+00:00"


@pytest.mark.parametrize("decision", ["Accept once", "No anomalies"])
def test_accepting_once_proceeds_without_touching_schemas(settings, tmp_path, decision):
    assert data_review.record_data_decision(settings, "r1", 0, decision, "steward", "")["proceed"] is True
    assert not (tmp_path / "s").exists()
    assert not (tmp_path / "pipeline" / "rejected_spans").exists()


def test_unknown_decisions_are_refused(settings):
    with pytest.raises(ValueError, match="not one of"):
        data_review.record_data_decision(settings, "r1", 0, "Approve", "steward", "")
    with pytest.raises(ValueError, match="not one of"):
        approval.record_approval(settings, "r1", 0, "Accept once", "manager", "")


def test_approval_record_says_who_and_whether(settings, tmp_path):
    assert approval.record_approval(settings, "r2", 1, "Reject", "manager", "")["approved"] is False
    record = json.loads((tmp_path / "pipeline" / "reviews" / "r2" / "approval.json").read_text())
    assert (record["decision"], record["by"], record["approved"]) == ("Reject", "manager", False)


def test_anomaly_report_shows_measured_drift_against_threshold():
    report = {
        "run_id": "r",
        "span": 1,
        "baseline_span": 0,
        "anomalies": [
            {
                "check": "drift",
                "split": "train",
                "feature": "logins",
                "severity": "ERROR",
                "types": ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"],
                "short": "High JSD",
                "description": "The Jensen-Shannon divergence is 0.31 (up to six significant digits)",
                "measurements": [{"type": "JENSEN_SHANNON_DIVERGENCE", "value": 0.3141, "threshold": 0.1}],
            }
        ],
    }
    body = data_review.anomalies_markdown(report, "/x/anomalies.html")
    assert "**1 anomalies** in span 1 (drift measured against span 0)" in body
    assert "JENSEN_SHANNON_DIVERGENCE 0.3141 > 0.1000" in body
    page = data_review.anomalies_html(report)
    assert "<td>logins</td>" in page and "0.3141" in page


def test_candidate_summary_compares_with_the_champion():
    summary = {
        "blessed": True,
        "reason": "blessed: recall gap 0.05",
        "champion": {"run_id": "old", "fairness_gap": 0.08, "slices": [{"slice": "overall", "auc": 0.70}]},
        "candidate": {
            "fairness_gap": 0.05,
            "fairness": {"attribute": "gender"},
            "slices": [{"slice": "overall", "auc": 0.75, "recall": 0.6}, {"slice": "gender=f", "auc": 0.74}],
        },
    }
    body = approval.candidate_markdown(summary, "/x/candidate.html")
    assert "| overall | auc | 0.7500 | 0.7000 |" in body
    assert "| overall | recall | 0.6000 | — |" in body
    assert "| gender=f | auc | 0.7400 | — |" in body
    assert "| gender | recall gap | 0.0500 | 0.0800 |" in body


def test_drift_anomalies_are_read_from_split_pairs_with_measurements(tmp_path):
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    anomalies = anomalies_pb2.Anomalies()
    info = anomalies.anomaly_info["logins"]
    info.severity = anomalies_pb2.AnomalyInfo.ERROR
    info.description = "The Jensen-Shannon divergence is 0.31"
    info.reason.add(type=anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH)
    drift = anomalies.drift_skew_info.add()
    drift.path.step.append("logins")
    drift.drift_measurements.add(
        type=anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE, value=0.31, threshold=0.1
    )
    (tmp_path / "SplitPair-train_train").mkdir()  # DistributionValidator's layout
    (tmp_path / "SplitPair-train_train" / "SchemaDiff.pb").write_bytes(anomalies.SerializeToString())
    [row] = outputs.read_anomalies(str(tmp_path))
    assert (row["split"], row["feature"], row["severity"]) == ("train_train", "logins", "ERROR")
    assert row["types"] == ["COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"]
    assert row["measurements"] == [
        {"type": "JENSEN_SHANNON_DIVERGENCE", "value": pytest.approx(0.31), "threshold": pytest.approx(0.1)}
    ]


def test_accepting_a_later_run_of_a_rejected_span_lifts_the_rejection(settings, tmp_path):
    data_review.record_data_decision(settings, "r1", 2, "Reject batch", "steward", "")
    assert (tmp_path / "pipeline" / "rejected_spans" / "span-2.json").exists()
    result = data_review.record_data_decision(settings, "r2", 2, "Accept once", "steward", "")
    assert result["lifted_rejection"]["run_id"] == "r1"
    assert not (tmp_path / "pipeline" / "rejected_spans" / "span-2.json").exists()


def test_concept_drift_compares_auc_and_f1_with_the_promotion():
    labels = [0, 0, 0, 0, 1, 1, 1, 1]
    good = [0.1, 0.2, 0.3, 0.4, 0.85, 0.9, 0.95, 0.99]  # AUC 1.0, F1 1.0 at threshold 0.8
    promoted = {"auc": 0.95, "f1": 0.9}
    kept = concept_drift(labels, good, 0.8, promoted, max_auc_drop=0.05, max_f1_drop=0.1)
    assert kept["measured"] and not kept["drift"] and kept["auc"] == 1.0 and kept["f1"] == 1.0
    assert kept["reason"].startswith("AUC 1.0000 vs 0.9500 at promotion")
    worse = [0.9, 0.2, 0.85, 0.4, 0.3, 0.95, 0.1, 0.99]  # AUC 9/16 = 0.5625, F1 0.5
    drifted = concept_drift(labels, worse, 0.8, promoted, max_auc_drop=0.05, max_f1_drop=0.1)
    assert drifted["drift"] and abs(drifted["auc_drop"] - (0.95 - 0.5625)) < 1e-9
    assert "AUC 0.5625 vs 0.9500 at promotion (drop 0.3875 > 0.05)" in drifted["reason"]
    assert "F1 0.5000 vs 0.9000" in drifted["reason"]
    one_class = concept_drift([0, 0, 0], [0.1, 0.5, 0.9], 0.8, promoted, 0.05, 0.1)
    assert not one_class["measured"] and not one_class["drift"] and "not measured" in one_class["reason"]
