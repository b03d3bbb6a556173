"""The whole chain on real Fashion-MNIST: train briefly, then attack."""
from __future__ import annotations

import functools

import pytest

from lib import attacks, data, evaluate, models, runtime, train


@pytest.mark.realdata
def test_train_and_attack_on_fashion_mnist(real_fashion_mnist):
    full_train, full_test = real_fashion_mnist
    train_set = data.stratified_subset(full_train, 3000, seed=0)
    test_set = data.stratified_subset(full_test, 500, seed=0)
    runtime.seed_everything(0)
    model = train.fit(models.SmallCNN("fashion_mnist", width=16), train_set,
                      train.TrainConfig(epochs=2, batch_size=64, lr=0.05), name="realdata").model
    table = evaluate.robust_accuracy(model, test_set.x, test_set.y,
                                     {"FGSM": attacks.fgsm, "PGD": functools.partial(attacks.pgd, steps=10)},
                                     [0.0, 0.05, 0.2], convention="all")
    clean = table.query("eps == 0")["accuracy"].iloc[0]
    assert clean > 0.7, f"a small CNN should learn Fashion-MNIST, got {clean:.3f}"
    checks = evaluate.sanity_checks(table, chance=0.1, single_step="FGSM", iterative=["PGD"])
    assert checks["passed"].all(), checks
    assert table.query("attack == 'PGD' and eps == 0.2")["accuracy"].iloc[0] < 0.05
