"""Cross-check the enumerator against the explainer over the entire tuple product space.

For one state, every tuple in ``HEAD_SIZES[0] x ... x HEAD_SIZES[3]`` is explained; a
tuple must be explained legal exactly when it is in the enumerated list. The list
must also be strictly increasing (canonical order, hence no duplicates).
"""
import numpy as np
from numba import njit

from .explain import OK, explain_code
from .legal import enumerate_legal
from .spec import HEAD_SIZES

H0, H1, H2, H3 = HEAD_SIZES


@njit(cache=True)
def crosscheck_state(s, cards, legal, listed):
    """Return (legal count, mismatches, first bad tuple as 4 ints or -1s, order violations).

    ``legal`` is a MAX_LEGAL x 4 scratch buffer, ``listed`` a bool[H0, H1, H2, H3] scratch buffer."""
    n = enumerate_legal(s, cards, legal)
    listed[:] = False
    order_bad = 0
    for r in range(n):
        listed[legal[r, 0], legal[r, 1], legal[r, 2], legal[r, 3]] = True
        if r > 0:
            a = legal[r - 1]
            b = legal[r]
            k = 0
            while k < 4 and a[k] == b[k]:
                k += 1
            if k == 4 or a[k] > b[k]:
                order_bad += 1
    bad = 0
    f0 = f1 = f2 = f3 = -1
    for a0 in range(H0):
        for a1 in range(H1):
            for a2 in range(H2):
                for a3 in range(H3):
                    code, _ = explain_code(s, cards, a0, a1, a2, a3)
                    if (code == OK) != listed[a0, a1, a2, a3]:
                        if bad == 0:
                            f0, f1, f2, f3 = a0, a1, a2, a3
                        bad += 1
    return n, bad, f0, f1, f2, f3, order_bad


def new_scratch():
    from .spec import MAX_LEGAL
    return np.zeros((MAX_LEGAL, 4), dtype=np.int8), np.zeros(HEAD_SIZES, dtype=np.bool_)
