"""The enumerator and the independent explainer agree over the whole tuple product space."""
from tcg_env.selfcheck import verify_random_states
from verification.spec import HEAD_SIZES
import numpy as np


def test_enumerate_matches_explain_on_random_states():
    rep = verify_random_states(1500, seed=12345)
    assert rep.states == 1500
    assert rep.tuples_checked == 1500 * int(np.prod(HEAD_SIZES))
    assert rep.failures == []
    assert rep.mismatches == 0 and rep.order_violations == 0
    assert rep.games > 5
    assert rep.max_legal > 40   # the sample reaches rich main-phase states, not only mulligans


def test_tcg_verify_cli_exit_code(capsys):
    from training.cli import main
    assert main(["verify", "--states", "200", "--seed", "3", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"mismatches": 0' in out and '"ok": true' in out


def test_explain_on_a_state_row_says_none_for_every_legal_tuple_and_a_reason_otherwise():
    """verification.explain.explain(row, tuple, pool), the design's explain(state, tuple), on the
    rows of random games: None exactly for the enumerated tuples, words for the others."""
    import pytest
    from tcg_env import GameState
    from verification.errors import ActionOutOfRangeError
    from verification.explain import explain
    from verification.layout import PH_MAIN
    from verification.spec import Primary
    rng = np.random.default_rng(5)
    g = GameState.new(None, None, seed=5)
    seen = mains = 0
    while not g.done:
        legal = g.legal_tuples()
        listed = {tuple(int(x) for x in t) for t in legal}
        for t in listed:
            assert explain(g.row, t, g.pool) is None
        for _ in range(20):
            t = tuple(int(rng.integers(h)) for h in HEAD_SIZES)
            if t not in listed:
                why = explain(g.row, t, g.pool)
                assert isinstance(why, str) and why
                seen += 1
        if g.phase == PH_MAIN:   # rules whose words are known: the phase, and a slot END_TURN does not use
            mains += 1
            assert "is not allowed in the" in explain(g.row, (int(Primary.BLOCK), 0, 0, 0), g.pool)
            assert "is unused by END_TURN" in explain(g.row, (int(Primary.END_TURN), 1, 0, 0), g.pool)
        g.apply(tuple(legal[rng.integers(len(legal))]))
    assert seen > 100 and mains > 5
    assert explain(g.row, (0, 0, 0, 0), g.pool) == "the game is over; no action is legal"
    with pytest.raises(ActionOutOfRangeError, match="sub1=99"):
        explain(g.row, (0, 99, 0, 0), g.pool)
