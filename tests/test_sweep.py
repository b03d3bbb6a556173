"""lib.sweep: the worst case over a set of attacks across eps, without repeating work."""
from __future__ import annotations

import functools

import pytest
import torch

from lib import attacks, data, evaluate
from lib.sweep import CLEAN, WORST_CASE, combine, from_distances, misclassified, per_eps_table, worst_case_sweep

EPS = [0.0, 0.02, 0.05, 0.1, 0.2]
BIM = functools.partial(attacks.bim, steps=5)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def batch():
    test = data.load("synthetic28", "test", n=100, seed=0)
    return test.x[:48], test.y[:48]


class Spy:
    """An attack that records the images it is given, then delegates."""

    def __init__(self, attack):
        self.attack, self.calls = attack, []

    def __call__(self, model, x, y, eps):
        self.calls.append((eps, x.clone()))
        return self.attack(model, x, y, eps)

    def seen(self, eps) -> torch.Tensor:
        parts = [x for e, x in self.calls if e == eps]
        return torch.cat(parts) if parts else torch.empty(0)


def _plain_robust(model, x, y, attack, eps_list) -> torch.Tensor:
    """The plain way: every image attacked at every eps; robust = correct clean and attacked."""
    with torch.no_grad():
        clean = model(x).argmax(1) == y
        cols = [clean & (model(attack(model, x, y, e) if e > 0 else x).argmax(1) == y) for e in eps_list]
    return torch.stack(cols, 1)


def test_monotone_by_construction(mlp, batch):
    x, y = batch
    noisy = lambda model, xs, ys, eps: (xs + eps * torch.randn_like(xs).sign()).clamp(0, 1)
    res = worst_case_sweep(mlp, x, y, {"noise": noisy, "bim": BIM}, EPS, progress_bar=False)
    assert res.robust.shape == (len(y), len(EPS))
    assert (res.robust[:, 1:] <= res.robust[:, :-1]).all()
    acc = res.accuracy().to_numpy()
    assert all(b <= a for a, b in zip(acc, acc[1:]))
    assert acc[0] == pytest.approx(res.clean_robust.float().mean().item())
    assert acc[-1] < acc[0]


def test_broken_images_are_not_attacked_again(mlp, batch):
    x, y = batch
    first, second = Spy(BIM), Spy(attacks.fgsm)
    res = worst_case_sweep(mlp, x, y, {"bim": first, "fgsm": second}, [0.02, 0.05], progress_bar=False)
    with torch.no_grad():
        clean_ok = mlp(x).argmax(1) == y
    # eps 0.02: BIM sees the clean-correct images, FGSM only what BIM left
    assert torch.equal(first.seen(0.02), x[clean_ok])
    by_bim = (res.broken_at == 0.02) & torch.tensor([b == "bim" for b in res.broken_by])
    assert by_bim.any()
    assert torch.equal(second.seen(0.02), x[clean_ok & ~by_bim])
    # eps 0.05: only the images unbroken at 0.02, by either attack
    assert torch.equal(first.seen(0.05), x[res.robust[:, 0]])
    assert 0 < len(first.seen(0.05)) < len(first.seen(0.02))
    t = res.table.set_index(["eps", "attack"])
    assert t.loc[(0.05, "bim"), "attacked"] == int(res.robust[:, 0].sum())
    assert t.loc[(0.05, "fgsm"), "attacked"] == len(second.seen(0.05))


def test_examples_stay_in_their_ball_and_are_adversarial(mlp, batch):
    x, y = batch
    for norm, eps_list, att in [("inf", EPS, BIM), ("2", [0.5, 1.0, 2.0], functools.partial(BIM, norm="2"))]:
        res = worst_case_sweep(mlp, x, y, {"bim": att}, eps_list, norm=norm, progress_bar=False)
        d = evaluate.distortion(x, res.x_adv, norm)
        assert (d <= res.broken_at.float() * (1 + 1e-5) + 1e-6).all()    # inf where never broken
        never = torch.isinf(res.broken_at)
        assert torch.equal(res.x_adv[never], x[never])
        for j, eps in enumerate(res.eps):
            x_eps = res.examples_at(eps, x)
            assert evaluate.distortion(x, x_eps, norm).max() <= eps * (1 + 1e-5) + 1e-6
            with torch.no_grad():
                assert torch.equal(misclassified(mlp(x_eps), y), ~res.robust[:, j])


def test_worst_case_at_least_as_strong_as_each_attack_alone(mlp, batch):
    x, y = batch
    fgsm, bim = attacks.fgsm, BIM
    res = worst_case_sweep(mlp, x, y, {"fgsm": fgsm, "bim": bim}, EPS, progress_bar=False)
    for attack in (fgsm, bim):
        plain = _plain_robust(mlp, x, y, attack, EPS)
        # deterministic attacks: the sweep's survivors survive each attack alone too
        assert not (res.robust & ~plain).any()
        assert (res.robust.sum(0) <= plain.sum(0)).all()
    wc = res.worst_case
    assert list(wc["eps"]) == EPS
    per_attack = res.table[res.table["attack"] != WORST_CASE]
    last = per_attack.groupby("eps")["robust"].last().to_numpy()
    assert (wc["robust"].to_numpy() == last).all()


def test_matches_a_plain_loop_with_a_deterministic_attack(mlp, batch):
    x, y = batch
    full_steps = functools.partial(BIM, stop_when_fooled=False)
    res = worst_case_sweep(mlp, x, y, {"bim": full_steps}, EPS, batch_size=16, progress_bar=False)
    plain = _plain_robust(mlp, x, y, BIM, EPS)
    # the plain loop is not monotone by construction; the sweep is its running minimum
    running = torch.stack([plain[:, : j + 1].all(1) for j in range(len(EPS))], 1)
    assert torch.equal(res.robust, running)
    assert len(set(res.broken_by) - {None, CLEAN, "bim"}) == 0
    # By default the sweep stops BIM at an image's first fooling iterate: never weaker per image.
    early = worst_case_sweep(mlp, x, y, {"bim": BIM}, EPS, batch_size=16, progress_bar=False)
    assert not (early.robust & ~running).any()


def test_for_scoring_turns_on_early_exit_only_where_it_is_sound():
    scored = attacks.for_scoring(BIM)
    assert scored.keywords["stop_when_fooled"] is True
    kept = functools.partial(attacks.pgd, stop_when_fooled=False)
    assert attacks.for_scoring(kept) is kept                      # the caller's choice stands
    eot = functools.partial(attacks.pgd, eot=4)
    assert attacks.for_scoring(eot) is eot                        # one noisy draw cannot decide
    assert attacks.for_scoring(attacks.fgsm) is attacks.fgsm      # nothing to stop


def test_table_columns_and_intervals(mlp, batch):
    x, y = batch
    res = worst_case_sweep(mlp, x, y, {"fgsm": attacks.fgsm, "bim": BIM}, [0.1, 0.05, 0.0, 0.05],
                           progress_bar=False)
    assert res.eps == (0.0, 0.05, 0.1)
    t = res.table
    assert {"eps", "attack", "attacked", "broken", "robust", "n", "accuracy", "low", "high", "norm"} <= set(t)
    assert len(t) == 3 * 3
    assert ((t["low"] <= t["accuracy"]) & (t["accuracy"] <= t["high"])).all()
    assert (t.loc[t["eps"] == 0, "attacked"] == 0).all()
    wide = per_eps_table(res)
    assert list(wide.columns[-2:]) == ["broken by fgsm", "broken by bim"]
    wc = res.worst_case
    assert (wc["broken"] + wc["robust"] == wc["n"]).all()


def test_convention_correct(mlp, batch):
    x, y = batch
    res = worst_case_sweep(mlp, x, y, {"bim": BIM}, [0.0, 0.1], convention="correct", progress_bar=False)
    with torch.no_grad():
        ok = mlp(x).argmax(1) == y
    assert res.worst_case["n"].iloc[0] == int(ok.sum())
    assert res.accuracy().iloc[0] == 1.0
    assert torch.equal(res.examples_at(0.0, x), x[ok])


def test_reject_is_not_a_success(mlp, batch):
    x, y = batch
    # K + 1 logits: an input farther than 1e-3 (L2) from every clean image is rejected
    memory = x.flatten(1)

    def detector(images):
        z = mlp(images)
        dist = torch.cdist(images.flatten(1), memory).amin(1)
        return torch.cat([z, (z.amax(1) - 1 + 1e3 * dist)[:, None]], 1)

    noise = lambda model, xs, ys, eps: (xs + eps * torch.ones_like(xs)).clamp(0, 1)
    aware = worst_case_sweep(detector, x, y, {"noise": noise}, [0.0, 0.1], reject=True, progress_bar=False)
    naive = worst_case_sweep(detector, x, y, {"noise": noise}, [0.0, 0.1], progress_bar=False)
    assert aware.accuracy().iloc[1] == aware.accuracy().iloc[0] > 0.5
    assert naive.accuracy().iloc[1] == 0.0


def test_bad_arguments(mlp, batch):
    x, y = batch
    outside = lambda model, xs, ys, eps: (xs + 2 * eps).clamp(0, 1)
    with pytest.raises(ValueError, match="outside"):
        worst_case_sweep(mlp, x, y, {"bad": outside}, [0.1], progress_bar=False)
    with pytest.raises(ValueError, match="norm"):
        worst_case_sweep(mlp, x, y, {"l2": functools.partial(BIM, norm="2")}, [0.1], progress_bar=False)
    with pytest.raises(ValueError, match="eps"):
        worst_case_sweep(mlp, x, y, {"bim": BIM}, [-0.1], progress_bar=False)
    with pytest.raises(ValueError, match="reserved"):
        worst_case_sweep(mlp, x, y, {WORST_CASE: BIM}, [0.1], progress_bar=False)


def test_cached_sweep_is_reused_and_invalidated_by_weights_and_attack(small_model, eval_batch, tmp_path,
                                                                     monkeypatch):
    import functools

    from lib import attacks
    from lib.sweep import cached_sweep

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    x, y = eval_batch
    x, y = x[:40], y[:40]
    fgsm = {"FGSM": attacks.fgsm}
    first = cached_sweep(small_model, x, y, fgsm, [0.05, 0.1], progress_bar=False)
    files = sorted((tmp_path / "results").glob("*.pt"))
    assert len(files) == 1
    again = cached_sweep(small_model, x, y, fgsm, [0.1, 0.05], progress_bar=False)
    assert sorted((tmp_path / "results").glob("*.pt")) == files, "same key: reused"
    assert torch.equal(again.robust, first.robust) and again.broken_by == first.broken_by
    import pandas as pd

    pd.testing.assert_frame_equal(again.table, first.table, check_dtype=False)

    cached_sweep(small_model, x, y, {"PGD": functools.partial(attacks.pgd, steps=2)}, [0.05, 0.1],
                 progress_bar=False)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 2, "another attack: recomputed"
    import copy

    changed = copy.deepcopy(small_model)   # the fixture is shared by the whole session
    with torch.no_grad():
        next(changed.parameters()).add_(0.01)
    cached_sweep(changed, x, y, fgsm, [0.05, 0.1], progress_bar=False)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 3, "changed weights: recomputed"
    with pytest.raises(TypeError, match="closure"):
        cached_sweep(small_model, x, y, {"L": lambda m, a, b, e: a}, [0.1], progress_bar=False)


def test_memo_returns_the_stored_result_and_tables_and_examples_survive(small_model, eval_batch, tmp_path,
                                                                       monkeypatch):
    from lib import cache

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    x, y = eval_batch
    x, y = x[:30], y[:30]
    saves = []
    real_save = cache.atomic_save
    monkeypatch.setattr(cache, "atomic_save", lambda obj, path: saves.append(path) or real_save(obj, path))
    args = (small_model, x, y, {"FGSM": attacks.fgsm})
    first = cache.memo("t", evaluate.robust_accuracy, *args, [0.1], convention="all", keep_examples=True)
    again = cache.memo("t", evaluate.robust_accuracy, *args, [0.1], convention="all", keep_examples=True)
    assert len(saves) == 1, "the second call read the stored result"
    assert list(again[0].columns) == list(first[0].columns)
    assert again[0]["robust"].tolist() == first[0]["robust"].tolist()
    assert torch.equal(again[1][("FGSM", 0.1)], first[1][("FGSM", 0.1)])
    cache.memo("t", evaluate.robust_accuracy, *args, [0.2], convention="all")
    assert len(saves) == 2, "another eps: computed again"


FGSM = functools.partial(attacks.fgsm)
COLS = ["eps", "attack", "broken", "robust", "n", "accuracy"]


def test_combine_equals_one_sweep_over_the_union_of_attacks(mlp, batch):
    """Deterministic attacks: per-attack sweeps combined give the joint sweep's worst case, its
    attribution (first eps, then the earlier attack) and its examples."""
    x, y = batch
    joint = worst_case_sweep(mlp, x, y, {"FGSM": FGSM, "BIM": BIM}, EPS, progress_bar=False)
    parts = [worst_case_sweep(mlp, x, y, {a: atk}, EPS, progress_bar=False)
             for a, atk in (("FGSM", FGSM), ("BIM", BIM))]
    both = combine(parts)
    assert torch.equal(both.robust, joint.robust) and torch.equal(both.broken_at, joint.broken_at)
    assert both.broken_by == joint.broken_by and torch.equal(both.clean_robust, joint.clean_robust)
    assert torch.allclose(both.x_adv, joint.x_adv)
    assert both.table[COLS].equals(joint.table[COLS])
    # Each attack's own sweep ran it on more images than the joint one did after FGSM.
    runs = both.table[both.table["attack"] == "BIM"]
    assert (runs["attacked"].to_numpy() >= joint.table[joint.table["attack"] == "BIM"]["attacked"].to_numpy()).all()


def test_combine_takes_a_sweep_of_the_survivors_by_their_positions(mlp, batch):
    x, y = batch
    joint = worst_case_sweep(mlp, x, y, {"FGSM": FGSM, "BIM": BIM}, EPS[1:], progress_bar=False)
    first = worst_case_sweep(mlp, x, y, {"FGSM": FGSM}, EPS[1:], progress_bar=False)
    standing = first.robust[:, 0].nonzero().squeeze(1)
    rest = worst_case_sweep(mlp, x[standing], y[standing], {"BIM": BIM}, EPS[1:], progress_bar=False)
    both = combine([first, rest], positions=[None, standing])
    assert torch.equal(both.robust, joint.robust) and both.broken_by == joint.broken_by
    assert both.table[COLS].equals(joint.table[COLS])
    sub = combine([first, rest], positions=[None, standing], eps=[EPS[-1]])
    assert sub.eps == (EPS[-1],) and torch.equal(sub.robust[:, 0], joint.robust[:, -1])


def test_from_distances_joins_a_minimal_distortion_attack(mlp, batch):
    """CW-like distances: broken at eps when the distance is at most eps (the hand-made rule of
    report 003's notebook), combined with a sweep per image."""
    x, y = batch
    grid = [0.5, 1.0, 2.0]
    l2 = functools.partial(attacks.pgd, norm="2", steps=5)
    sweep = worst_case_sweep(mlp, x, y, {"PGD": l2}, grid, norm="2", progress_bar=False)
    dist = torch.linspace(0, 3, len(y)).double()
    dist[3::7] = float("inf")
    cw = from_distances(dist, grid, x.clone(), attack="CW")
    assert torch.equal(cw.robust, torch.stack([dist > e for e in grid], 1))
    assert cw.broken_by[0] == CLEAN and cw.broken_by[3] is None and cw.broken_by[5] == "CW"
    both = combine([sweep, cw])
    for j, e in enumerate(grid):
        assert torch.equal(both.robust[:, j], sweep.robust[:, j] & ~(dist <= e))
    assert torch.equal(both.broken_at, torch.minimum(sweep.broken_at, dist))
    wc = both.worst_case
    assert wc["robust"].tolist() == both.robust.sum(0).tolist()
    runs = both.table[both.table["attack"] != WORST_CASE]
    broken_by_attack = runs.groupby("eps")["broken"].sum().to_numpy()
    lost = [int((both.clean_robust & (both.broken_at <= e) & (both.broken_at > p)).sum())
            for p, e in zip([0.0, *grid[:-1]], grid)]
    assert broken_by_attack.tolist() == lost


def test_combine_refuses_what_it_cannot_combine(mlp, batch):
    x, y = batch
    a = worst_case_sweep(mlp, x, y, {"FGSM": FGSM}, EPS, progress_bar=False)
    b = worst_case_sweep(mlp, x[:10], y[:10], {"BIM": BIM}, EPS[:2], progress_bar=False)
    l2 = worst_case_sweep(mlp, x, y, {"FGM": functools.partial(attacks.fgsm, norm="2")}, EPS, norm="2",
                          progress_bar=False)
    with pytest.raises(ValueError, match="other images"):
        combine([a, b])
    with pytest.raises(ValueError, match="not run at eps"):
        combine([a, b], positions=[None, torch.arange(10)])
    with pytest.raises(ValueError, match="norms"):
        combine([a, l2])
    with pytest.raises(ValueError, match="one row"):
        combine([a, b], positions=[None, torch.arange(3)], eps=EPS[:2])
    with pytest.raises(ValueError, match="nothing"):
        combine([])
    with pytest.raises(ValueError, match="distance"):
        from_distances(torch.tensor([-1.0]), [0.1], x[:1], attack="CW")


def test_cached_sweep_seeds_inside_and_keys_by_the_seed(mlp, batch, tmp_path, monkeypatch):
    """A sweep with random starts gives the same result cold, whatever random state came before,
    and another seed is another result (no cache key listed by hand)."""
    from lib.sweep import cached_sweep

    monkeypatch.setenv("ADV_CHECKPOINT_DIR", str(tmp_path))
    x, y = batch
    pgd = {"PGD": functools.partial(attacks.pgd, steps=2)}
    torch.manual_seed(123)
    a = cached_sweep(mlp, x, y, pgd, [0.05, 0.1], seed=4, progress_bar=False, use_cache=False)
    torch.rand(1000)
    b = cached_sweep(mlp, x, y, pgd, [0.05, 0.1], seed=4, progress_bar=False, use_cache=False)
    assert torch.equal(a.x_adv, b.x_adv)
    cached_sweep(mlp, x, y, pgd, [0.05, 0.1], seed=4, progress_bar=False)
    cached_sweep(mlp, x, y, pgd, [0.05, 0.1], seed=5, progress_bar=False)
    assert len(list((tmp_path / "results").glob("*.pt"))) == 2
