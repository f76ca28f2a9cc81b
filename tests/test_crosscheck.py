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
