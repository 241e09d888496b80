"""The NumPy L-BFGS used by the Tammes solver and the linear probe."""

import numpy as np

from hclm_ref._optim import minimize_lbfgs


def test_rosenbrock_minimum():
    def rosenbrock(v):
        x, y = v
        value = (1 - x) ** 2 + 100 * (y - x ** 2) ** 2
        grad = np.array([-2 * (1 - x) - 400 * x * (y - x ** 2), 200 * (y - x ** 2)])
        return value, grad
    np.testing.assert_allclose(minimize_lbfgs(rosenbrock, [-1.2, 1.0], max_iter=500), [1, 1], atol=1e-6)


def test_quadratic_solves_the_linear_system():
    rng = np.random.default_rng(0)
    M = rng.standard_normal((20, 20))
    A, b = M @ M.T + np.eye(20), rng.standard_normal(20)
    x = minimize_lbfgs(lambda x: (0.5 * x @ A @ x - b @ x, A @ x - b), np.zeros(20), max_iter=500)
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-7)
