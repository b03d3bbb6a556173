"""Profiles of notebooks/library_tour.ipynb: the attack library on one small CNN."""

_COMMON = dict(seed=0, device="auto", width=32, batch_size=128, lr=0.05,
               pgd_restarts=1, cw_c=1.0, cw_lr=0.01)

PROFILES = {
    "smoke": dict(_COMMON, dataset="synthetic28", n_train=2000, n_test=200, epochs=1, width=16,
                  eps=[0.0, 0.05, 0.1, 0.2, 0.3], large_eps=0.5, pgd_steps=5,
                  n_cw=40, cw_steps=30, cw_binary_search_steps=2),
    # About 1.5 minutes on a 2-core CPU, of the 15 the quick profile has for every notebook.
    "quick": dict(_COMMON, dataset="fashion_mnist", n_train=10000, n_test=500, epochs=2,
                  eps=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2], large_eps=0.5, pgd_steps=10,
                  n_cw=100, cw_steps=100, cw_binary_search_steps=3),
    "paper": dict(_COMMON, dataset="fashion_mnist", n_train=60000, n_test=10000, epochs=10,
                  eps=[0.0, 0.01, 0.02, 0.05, 0.1, 0.2], large_eps=0.5, pgd_steps=40,
                  n_cw=1000, cw_steps=1000, cw_binary_search_steps=9),
}
