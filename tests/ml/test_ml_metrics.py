"""Metrics against values computed by hand on a small fixed set of scores and labels."""

from __future__ import annotations

import numpy as np
import pytest

from hitprep.ml.metrics import best_threshold, binary_metrics, grouped_metrics, roc_curve

pytest.importorskip("sklearn")

# sorted by score: 0.9 S, 0.8 S, 0.7 B, 0.6 S, 0.4 B, 0.3 S, 0.2 B, 0.1 B
LABELS = np.array([1, 1, 1, 0, 0, 0, 0, 1])
SCORES = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.6])
MASSES = np.array([10.0, 10.0, 50.0, 10.0, 50.0, 50.0, 10.0, 50.0])


def test_auc_counts_ordered_pairs() -> None:
    # signal above background in 4 + 4 + 3 + 2 of the 16 pairs
    fpr, tpr, auc = roc_curve(LABELS, SCORES)
    assert auc == pytest.approx(13 / 16)
    assert fpr[0] == 0 and tpr[-1] == 1 and fpr[-1] == 1


def test_best_threshold_minimizes_errors_and_prefers_the_highest() -> None:
    # errors: 0.9 -> 3, 0.8 -> 2, 0.7 -> 3, 0.6 -> 2, 0.4 -> 3, 0.3 -> 2; ties -> 0.8
    assert best_threshold(LABELS, SCORES) == 0.8
    # ties between classes: 0.9 -> 1 error, 0.5 -> 1 error; the higher wins
    assert best_threshold([0, 1, 1, 0], [0.5, 0.5, 0.9, 0.1]) == 0.9


def test_best_threshold_can_select_nothing() -> None:
    t = best_threshold([0, 0, 0, 1], [0.9, 0.8, 0.7, 0.1])
    assert t > 0.9
    assert binary_metrics([0, 0, 0, 1], [0.9, 0.8, 0.7, 0.1], threshold=t).n_selected == 0


def test_rates_at_the_best_threshold() -> None:
    m = binary_metrics(LABELS, SCORES)
    assert m.threshold == 0.8
    assert (m.true_positives, m.false_positives, m.true_negatives, m.false_negatives) == (
        2,
        0,
        4,
        2,
    )
    assert m.accuracy == 0.75
    assert m.signal_acceptance == 0.5
    assert m.background_suppression == 1.0
    assert m.purity == 1.0
    assert m.background_rejection is None  # no background selected: 1 / 0


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        # accuracy, acceptance, suppression, purity, rejection
        (0.5, (6 / 8, 3 / 4, 3 / 4, 3 / 4, 4.0)),
        (0.35, (5 / 8, 3 / 4, 2 / 4, 3 / 5, 2.0)),
        (0.0, (4 / 8, 1.0, 0.0, 4 / 8, 1.0)),
    ],
)
def test_rates_at_a_given_threshold(
    threshold: float, expected: tuple[float, float, float, float, float]
) -> None:
    m = binary_metrics(LABELS, SCORES, threshold=threshold)
    got = (
        m.accuracy,
        m.signal_acceptance,
        m.background_suppression,
        m.purity,
        m.background_rejection,
    )
    assert got == pytest.approx(expected)
    assert m.auc == pytest.approx(13 / 16)


def test_auc_with_tied_scores_counts_half() -> None:
    _, _, auc = roc_curve([0, 1, 1, 0], [0.5, 0.5, 0.9, 0.1])
    assert auc == pytest.approx(3.5 / 4)


def test_per_mass_breakdown() -> None:
    groups = grouped_metrics(LABELS, SCORES, MASSES, threshold=0.8)
    assert sorted(groups) == ["10", "50"]
    low, high = groups["10"], groups["50"]
    assert (low.auc, low.signal_acceptance, low.background_suppression) == (1.0, 1.0, 1.0)
    assert high.auc == 1.0
    assert high.signal_acceptance == 0.0  # 0.3 and 0.6 are below 0.8
    assert high.purity is None  # nothing selected
    assert low.n_events + high.n_events == len(LABELS)


def test_one_class_has_no_auc() -> None:
    m = binary_metrics([1, 1, 1], [0.2, 0.5, 0.9], threshold=0.5)
    assert m.auc is None
    assert m.background_suppression is None
    assert m.signal_acceptance == pytest.approx(2 / 3)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="0 \\(background\\) or 1"):
        binary_metrics([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="equal length"):
        binary_metrics([0, 1], [0.1])
    with pytest.raises(ValueError, match="finite"):
        binary_metrics([0, 1], [0.1, np.nan])
