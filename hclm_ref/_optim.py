"""A small L-BFGS minimiser in NumPy (used by the Tammes solver and the linear probe).

Why not scipy.optimize: SciPy's L-BFGS-B calls its own OpenBLAS, whose worker threads spin
against NumPy's on a 2-core machine; alternating the two made the Tammes solver 25x slower.
"""

import numpy as np


def minimize_lbfgs(fun, x0, *, max_iter=500, memory=10, gtol=1e-10, ftol=1e-15):
    """Minimise fun(x) -> (value, grad) from x0 with L-BFGS and a backtracking Armijo search.

    The search direction is -H g, with H the inverse-Hessian estimate built by the classic
    two-loop recursion from the last `memory` steps (s = x_{k+1} - x_k, y = g_{k+1} - g_k).
    Stops after max_iter steps, when |g|_inf < gtol, or when a step lowers the value by less
    than ftol * max(1, |value|). Returns the final x (float64 array shaped like x0).
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    S, Y = [], []
    for _ in range(max_iter):
        if np.max(np.abs(g)) < gtol:
            break
        # two-loop recursion: p = -H g
        q = g.copy()
        alphas = []
        for s, y in zip(reversed(S), reversed(Y)):
            a = np.dot(s, q) / np.dot(y, s)
            alphas.append(a)
            q -= a * y
        gamma = np.dot(S[-1], Y[-1]) / np.dot(Y[-1], Y[-1]) if S else 1.0 / max(1.0, np.linalg.norm(g))
        p = gamma * q
        for (s, y), a in zip(zip(S, Y), reversed(alphas)):
            p += s * (a - np.dot(y, p) / np.dot(y, s))
        p = -p
        slope = np.dot(g, p)
        if slope >= 0:                      # not a descent direction: restart from -g
            S, Y, p, slope = [], [], -g, -np.dot(g, g)
        step = 1.0
        while True:
            x_new = x + step * p
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-20:
                break
            step *= 0.5
        s, y = x_new - x, g_new - g
        if np.dot(s, y) > 1e-16 * np.dot(y, y):   # keep the curvature pair only if it is positive
            S.append(s)
            Y.append(y)
            if len(S) > memory:
                S.pop(0)
                Y.pop(0)
        converged = f - f_new <= ftol * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged:
            break
    return x
