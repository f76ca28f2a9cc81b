"""GameState's own API: state-row validation (every field, both players, every slot, the
bounds themselves), seeds, bytes, clone, equality, legal lists, observations of a finished game,
and the random-play self-checks of ``tcg_env.selfcheck``."""
import re

import numpy as np
import pytest

from prefabs import Keyword, default_decks, default_pool, deck_ids
from tcg_env import GameState, StateFormatError
from tcg_env.selfcheck import VerifyReport, check_invariants, deck_pairs, verify_random_states
from tcg_env.state import resolve_deck, state_rows_problem
from verification import layout as L
from verification.spec import BOARD_SLOTS, Primary

from scenario import KEEP_ALL, mulligan


def _main_phase(seed=0) -> GameState:
    g = GameState.new(None, None, seed=seed)
    g.apply(mulligan(KEEP_ALL)).apply(mulligan(KEEP_ALL))
    return g


def _finished_game(seed=3) -> GameState:
    rng = np.random.default_rng(seed)
    g = GameState.new(None, None, seed=seed)
    while not g.done:
        legal = g.legal_tuples()
        g.apply(tuple(legal[rng.integers(len(legal))]))
    return g


def _pb(p: int) -> int:
    return L.P0 + p * L.PLAYER_WORDS


def _slot(p: int, slot: int, field: int) -> int:
    return _pb(p) + L.P_BOARD + slot * L.B_WIDTH + field


def _problem_with(word: int, value: int, base: np.ndarray | None = None):
    row = (_main_phase().row if base is None else base).copy()
    row[word] = value
    return state_rows_problem(row, default_pool())


# ----------------------------------------------------------------------------- state rows
def test_state_rows_problem_checks_player_1_every_slot_and_the_decklist():
    """The range checks cover both players (not only player 0), every board slot up to the last
    alley slot, and the decklist / IKZ-list card ids the resets read, and name the field."""
    n = len(default_pool())
    cases = [
        (_pb(1) + L.P_HAND_N, 99, "player 1 hand count"),
        (_pb(1) + L.P_HP, 150, "player 1 leader health"),
        (_slot(1, BOARD_SLOTS - 1, L.B_CARD), n + 1, "player 1 board card id"),
        (_slot(0, BOARD_SLOTS - 1, L.B_CARD), n + 1, "player 0 board card id"),
        (_slot(0, BOARD_SLOTS - 1, L.B_READY), 2, "player 0 board ready flag"),
        (_pb(0) + L.P_DECKLIST, n + 1, "player 0 card id"),
        (_pb(1) + L.P_IKZLIST + L.IKZ_DECK_SIZE - 1, -3, "player 1 card id"),
    ]
    for word, value, says in cases:
        problem = _problem_with(word, value)
        assert problem is not None and problem.startswith(f"row 0: {says} (word {word}) is {value}, outside"), \
            (says, problem)


def test_state_rows_problem_bounds_are_exact():
    """Each range's end is the last value a game can hold: that value passes, one more fails
    (turn TURN_CAP, winner 2 for a draw, every keyword bit at once, stat MAX_STAT, the last
    card id as the pending card). The board's fields are set on slots that hold a unit (an
    empty slot holds nothing else)."""
    n = len(default_pool())
    over = _finished_game().row.copy()
    for p in (0, 1):   # winner 2, a draw, is a game whose two leaders fell
        over[[_pb(p) + L.P_HP, _pb(p) + L.P_FELL]] = 0, 1
    from prefabs import table as T
    token = int(np.flatnonzero(default_pool().table[:, T.C_TOKEN])[0])   # owned by no decklist
    manned = _main_phase().row.copy()   # a token unit at full MAX_STAT health in every slot
    for p in (0, 1):
        for slot in range(BOARD_SLOTS):
            manned[[_slot(p, slot, L.B_CARD), _slot(p, slot, L.B_HP), _slot(p, slot, L.B_MAXHP)]] = (token, L.MAX_STAT,
                                                                                                     L.MAX_STAT)
    cases = [
        (L.G_TURN, L.TURN_CAP, "turn", None),
        (L.G_WINNER, 2, "winner", over),
        (L.G_PEND_CARD, n, "pending card", None),
        (_slot(0, 0, L.B_KW), int(sum(Keyword)), "player 0 board keyword bits", manned),
        (_slot(1, 2, L.B_HP), L.MAX_STAT, "player 1 board health", manned),
        (_slot(0, 3, L.B_ATK), L.MAX_STAT, "player 0 board attack", manned),
        (_pb(1) + L.P_MAXHP, L.MAX_STAT, "player 1 leader maximum health", None),
        (_pb(0) + L.P_FATIGUE, L.MAX_STAT, "player 0 fatigue", None),   # observed, so checked like a stat
    ]
    for word, last, says, base in cases:
        assert _problem_with(word, last, base) is None, says
        problem = _problem_with(word, last + 1, base)
        assert problem is not None and f"{says} (word {word}) is {last + 1}, outside" in problem, (says, problem)
    assert "player 1 fatigue (word" in _problem_with(_pb(1) + L.P_FATIGUE, -1, None)


def test_state_rows_problem_names_the_first_bad_row():
    """Of several bad rows the message names the first one (the row a reader fixes first)."""
    rows = np.stack([_main_phase(s).row for s in range(6)])
    rows[2, _pb(0) + L.P_HAND_N] = 99
    rows[5, _pb(0) + L.P_HAND_N] = 77
    assert state_rows_problem(rows, default_pool()).startswith("row 2: player 0 hand count")
    assert state_rows_problem(rows[3:], default_pool()).startswith("row 2: player 0 hand count (word")


def test_state_rows_problem_names_the_lowest_bad_row_whatever_its_problem():
    """The row named is the lowest with any problem, not the first found by the first kind of
    check that finds one: a structural problem in row 1 is named before a word out of range in
    row 3, and a word out of range in row 1 before a structural problem in row 3."""
    rows = np.stack([_main_phase(s).row for s in range(5)])
    fallen = rows.copy()
    fallen[1, _pb(1) + L.P_FELL] = 1   # fallen with health left
    fallen[3, L.G_TURN] = 0
    assert state_rows_problem(fallen, default_pool()).startswith("row 1: player 1 leader health")
    turn = rows.copy()
    turn[1, L.G_TURN] = 0
    turn[3, _pb(1) + L.P_FELL] = 1
    assert state_rows_problem(turn, default_pool()).startswith("row 1: turn (word")
    hole = rows.copy()
    hole[2, _pb(0) + L.P_HAND] = 0
    hole[4, _pb(1) + L.P_FELL] = 1
    assert state_rows_problem(hole, default_pool()).startswith("row 2: player 0 hand position 0")


def _block_phase(seed=5) -> GameState:
    """A real response window: random play until the defender is asked to block."""
    rng = np.random.default_rng(seed)
    for game in range(50):
        g = GameState.new(None, None, seed=seed + game)
        while not g.done:
            if g.phase == L.PH_BLOCK:
                return g
            legal = g.legal_tuples()
            g.apply(tuple(legal[rng.integers(len(legal))]))
    raise AssertionError("no response window in 50 random games")


def test_status_words_that_disagree_with_the_phase_are_refused():
    """Rows the checks used to accept and the engine cannot play: a game marked over outside the
    game-over phase (it still listed legal tuples), the game-over phase of a game not over and a
    mulligan phase naming no player (no legal tuple, never over: stuck), a winner on a game
    that did not end with one, an attack pending outside the response window or by an
    empty slot or on anything but the defender's leader or a unit in its garden, a fallen
    leader in a game not ended, and an ending whose winner disagrees with which leader fell
    (or with none fallen). The engine's own rows in each phase pass, a truncated game
    included."""
    from verification.spec import GARDEN_SLOTS
    pool = default_pool()
    main, over, block, mull = _main_phase().row, _finished_game().row, _block_phase().row, GameState.new().row
    truncated = main.copy()
    truncated[[L.G_PHASE, L.G_DONE, L.G_WINNER]] = L.PH_OVER, L.DONE_TRUNCATED, -1
    for row in (main, over, block, mull, truncated):
        assert state_rows_problem(row, pool) is None
    assert over[L.G_DONE] == L.DONE_TERMINAL and over[L.G_WINNER] in (0, 1, 2)
    a = int(block[L.G_ACTIVE])
    src, tgt = int(block[L.G_ATK_SRC]), int(block[L.G_ATK_TGT])
    empty_mine = next(k for k in range(BOARD_SLOTS) if block[_slot(a, k, L.B_CARD)] == 0)
    empty_garden = [k for k in range(GARDEN_SLOTS) if block[_slot(1 - a, k, L.B_CARD)] == 0]

    def edited(base, **words):
        row = base.copy()
        for name, v in words.items():
            row[getattr(L, name)] = v
        return state_rows_problem(row, pool)
    cases = [
        (edited(main, G_DONE=L.DONE_TERMINAL), "done is 1 but the phase is 1"),
        (edited(main, G_DONE=L.DONE_TRUNCATED), "done is 2 but the phase is 1"),
        (edited(main, G_PHASE=L.PH_OVER), "done is 0 but the phase is 5"),
        (edited(over, G_WINNER=-1), "winner is -1 with done 1"),
        (edited(truncated, G_WINNER=0), "winner is 0 with done 2"),
        (edited(main, G_WINNER=2), "winner is 2 with done 0"),
        (edited(mull, G_MULL_PLAYER=-1), "the mulligan phase names no player"),
        (edited(main, G_ATK_SRC=0), "an attack is pending (attacker slot 0, attack target -1) outside the block"),
        (edited(main, G_ATK_TGT=L.ATK_TGT_LEADER), f"an attack is pending (attacker slot -1, attack target {L.ATK_TGT_LEADER})"),
        (edited(over, G_ATK_SRC=src, G_ATK_TGT=tgt), "an attack is pending"),
        (edited(block, G_ATK_SRC=-1), f"attacker slot -1 holds no unit of the active player {a}"),
        (edited(block, G_ATK_SRC=empty_mine), f"attacker slot {empty_mine} holds no unit"),
        (edited(block, G_ATK_TGT=-1), f"attack target -1 is neither the defender's leader ({L.ATK_TGT_LEADER}) nor a garden slot"),
    ]
    if empty_garden:
        cases.append((edited(block, G_ATK_TGT=empty_garden[0]), f"attack target {empty_garden[0]} is neither"))
    from prefabs.table import C_TOKEN
    token = int(np.flatnonzero(pool.table[:, C_TOKEN])[0])   # owned by no decklist: no count changes
    alley = block.copy()   # a unit in the defender's alley is out of reach of an attack
    alley[_slot(1 - a, GARDEN_SLOTS, L.B_CARD):_slot(1 - a, GARDEN_SLOTS, L.B_CARD) + L.B_WIDTH] = 0
    alley[[_slot(1 - a, GARDEN_SLOTS, f) for f in (L.B_CARD, L.B_HP, L.B_MAXHP)]] = token, 1, 1
    assert state_rows_problem(alley, pool) is None
    cases.append((edited(alley, G_ATK_TGT=GARDEN_SLOTS), f"attack target {GARDEN_SLOTS} is neither"))
    # the fallen flags (a leader at health 0) decide the end and its winner
    w = int(over[L.G_WINNER])
    fell = [int(over[_pb(p) + L.P_FELL]) for p in range(2)]
    assert fell == [int(w != 0), int(w != 1)]   # the engine's own ending: the loser's leader fell

    def leaders(base, fallen, **words):
        row = base.copy()
        for p in range(2):
            row[_pb(p) + L.P_FELL] = p in fallen
            row[_pb(p) + L.P_HP] = 0 if p in fallen else max(1, int(row[_pb(p) + L.P_HP]))
        for name, v in words.items():
            row[getattr(L, name)] = v
        return state_rows_problem(row, pool)
    for k in (0, 1):
        assert leaders(over, {1 - k}, G_WINNER=k) is None   # a win either way, as the engine ends it
    assert leaders(over, {0, 1}, G_WINNER=2) is None   # both fell: a draw
    cases += [
        (leaders(main, {0}), "player 0's leader has fallen but done is 0"),
        (leaders(block, {1}), "player 1's leader has fallen but done is 0"),
        (leaders(truncated, {1}), "player 1's leader has fallen but done is 2"),
        (leaders(over, {1}, G_WINNER=1), "the game ended with winner 1 but player 1's leader has fallen"),
        (leaders(over, {0}, G_WINNER=2), "the game ended with winner 2 but player 0's leader has fallen"),
        (leaders(over, {0, 1}, G_WINNER=0), "the game ended with winner 0 but both leaders have fallen"),
        (leaders(over, set(), G_WINNER=1), "the game ended with winner 1 but no leader has fallen"),
    ]
    for problem, says in cases:
        assert problem is not None and problem.startswith("row 0: ") and says in problem, (says, problem)
    with pytest.raises(StateFormatError, match="the mulligan phase names no player"):
        bad = GameState(mull.copy(), pool)
        bad.row[L.G_MULL_PLAYER] = -1
        GameState.from_bytes(bad.to_bytes())


def test_more_cards_than_a_player_owns_is_refused_and_the_engine_never_writes_past_a_zone():
    """A zone has room for all of a player's cards: 30 from its decklist, 10 from its IKZ list.
    A saved row with more is refused by name. The engine once moved a card into the next
    position of a zone trusting there was room: a full discard of 30 beside a full hand burnt
    the drawn card into board slot 0's words, and a full IKZ area beside a non-empty IKZ deck
    wrote the arriving IKZ over the IKZ deck. Its appends are bounded now, so a hand-built
    GameState with extra cards plays on, the card without room leaving the game. At exactly the
    bound a row is accepted, and so is a position whose cards do not come from its decklist
    (hand-built scenarios), which only check_invariants refuses."""
    from scenario import Scenario, end_turn
    sc = Scenario().main_phase(active=1)
    b = _pb(0)
    owned = [int(c) for c in sc.row[b + L.P_DECKLIST:b + L.P_DECKLIST + L.DECK_SIZE]]
    st = sc.deck(0, []).discard(0, owned).hand(0, []).build()
    assert state_rows_problem(st.row, st.pool) is None   # 30 cards: all of them discarded
    st = sc.deck(0, owned[:1]).hand(0, owned[:10]).build()   # a card to draw into a full hand
    says = ("player 0 holds 41 main-deck cards in its deck, hand, discard, units (tokens aside) and weapons, "
            "more than the 30 of its decklist")
    assert state_rows_problem(st.row, st.pool) == f"row 0: {says}"
    with pytest.raises(StateFormatError, match=re.escape(says)):
        GameState.from_bytes(st.to_bytes(), st.pool)
    st.apply(end_turn())   # a hand-built position plays on: the card burnt into a full discard leaves the game
    assert [int(st.row[b + w]) for w in (L.P_DECK_N, L.P_HAND_N, L.P_DISC_N)] == [0, 10, L.DISCARD_MAX]
    assert int(st.row[_slot(0, 0, L.B_CARD)]) == 0 and state_rows_problem(st.row, st.pool, hand_built=True) is None
    st = Scenario().main_phase(active=1).ikz(0, n=10).build()
    ikz = [int(c) for c in st.row[b + L.P_IKZLIST:b + L.P_IKZLIST + L.IKZ_DECK_SIZE]]
    assert state_rows_problem(st.row, st.pool) is None
    st.row[b + L.P_IKZDECK:b + L.P_IKZDECK + 3] = ikz[:3]   # 3 more to arrive (the builder refuses this)
    st.row[b + L.P_IKZDECK_N] = 3
    assert state_rows_problem(st.row, st.pool) == ("row 0: player 0 holds 13 IKZ cards in its IKZ area and IKZ deck, "
                                                   "more than the 10 of its IKZ list")
    st.apply(end_turn())   # player 0's turn: the arriving IKZ card finds the IKZ area full and leaves the game
    assert [int(st.row[b + w]) for w in (L.P_IKZ_N, L.P_IKZDECK_N)] == [10, 2]
    assert [int(x) for x in st.row[b + L.P_IKZDECK:b + L.P_IKZDECK + 3]] == ikz[:2] + [0]
    st = Scenario().main_phase(active=1).hand(0, ["Siege Golem"] * 5).build()   # not its decklist's cards
    assert state_rows_problem(st.row, st.pool) is None and "p0 main-deck cards not conserved" in check_invariants(st)
    st.row[b + L.P_DECKLIST + 7] = 0
    assert state_rows_problem(st.row, st.pool) == (f"row 0: player 0 decklist position 7 (word {b + L.P_DECKLIST + 7}) "
                                                   "holds no card (id 0)")


def test_from_bytes_refuses_a_player_1_or_last_slot_corruption():
    """from_bytes runs the row checks over the whole row, player 1's half included."""
    g = _main_phase()
    data = g.to_bytes()
    header = len(data) - 4 * L.STATE_SIZE
    for word, value, says in ((_pb(1) + L.P_DECK_N, 31, "player 1 deck count"),
                              (_slot(1, BOARD_SLOTS - 1, L.B_HP), 100, "player 1 board health")):
        bad = bytearray(data)
        bad[header + 4 * word:header + 4 * word + 4] = int(value).to_bytes(4, "little", signed=True)
        with pytest.raises(StateFormatError, match=f"{says} .* is {value}, outside"):
            GameState.from_bytes(bytes(bad))


def test_from_bytes_checks_every_version_field():
    """The layout, the action spec and the card-table versions are each compared (a state saved
    under another card table is refused, not only one under another layout)."""
    data = _main_phase().to_bytes()
    assert GameState.from_bytes(data) == _main_phase()
    for offset in (4, 6, 8):   # <4sHHH...: layout, action spec, card table
        bad = bytearray(data)
        bad[offset] ^= 0x7F
        with pytest.raises(StateFormatError, match="versions"):
            GameState.from_bytes(bytes(bad))


# ----------------------------------------------------------------------------- GameState
def test_the_seed_reaches_the_shuffle():
    """GameState.new passes its seed to the reset: the same seed gives the same game, other
    seeds other games (shuffled decks, recorded seed words)."""
    assert GameState.new(None, None, seed=7) == GameState.new(None, None, seed=7)
    rows = [GameState.new(None, None, seed=s).row for s in (0, 1, 2, 2 ** 40 + 5)]
    for i in range(len(rows)):
        for j in range(i):
            assert not np.array_equal(rows[i], rows[j]), (i, j)
    g = GameState.new(None, None, seed=2 ** 40 + 5)
    assert (int(g.row[L.G_SEED_HI]) & 0xFFFFFFFF) << 32 | (int(g.row[L.G_SEED_LO]) & 0xFFFFFFFF) == 2 ** 40 + 5


def test_no_deck_means_the_first_prebuilt_deck():
    """deck None is the first prebuilt deck, for resolve_deck and for both seats of new()."""
    pool = default_pool()
    decks = default_decks()
    first = deck_ids(next(iter(decks.values())), pool)
    assert np.array_equal(resolve_deck(None, pool), first)
    second = list(decks)[1]
    assert not np.array_equal(resolve_deck(second, pool), first)
    g = GameState.new(None, None, seed=0)
    leader = pool.id_of(next(iter(decks.values())).leader)
    assert int(g.row[_pb(0) + L.P_LEADER]) == leader == int(g.row[_pb(1) + L.P_LEADER])


def test_clone_and_legal_tuples_are_independent_copies():
    """clone() copies the row (acting on the clone leaves the original alone) and legal_tuples()
    returns a fresh array: a list taken in the mulligan is not rewritten by a later call in the
    main phase, and editing a returned list changes no other."""
    g = _main_phase(2)
    before = g.row.copy()
    c = g.clone()
    c.apply((int(Primary.END_TURN), 0, 0, 0))
    assert np.array_equal(g.row, before) and not (c == g)
    g = GameState.new(None, None, seed=2)
    legal = g.legal_tuples()
    kept = legal.copy()
    assert np.all(kept[:, 0] == int(Primary.MULLIGAN))
    g.apply(mulligan(KEEP_ALL)).apply(mulligan(KEEP_ALL))
    main = g.legal_tuples()
    assert np.all(main[:, 0] != int(Primary.MULLIGAN))
    assert np.array_equal(legal, kept)
    main_kept = main.copy()
    main[:] = 0
    again = g.legal_tuples()
    again[:] = 1
    assert np.array_equal(g.legal_tuples(), main_kept) and np.all(main == 0)


def test_equality_reads_the_whole_row():
    """Two states that differ in any one word, player 1's last included, are not equal."""
    g = _main_phase()
    for word in (0, L.P0, _pb(1) + L.P_HP, L.STATE_SIZE - 1):
        h = g.clone()
        h.row[word] += 1
        assert not (h == g) and not (g == h), word
    assert g == g.clone() and not (g == g.row)


def test_a_finished_game_has_an_observation_from_seat_0_and_a_draw_winner():
    """After the game no one acts (current_player -1): observation() is seat 0's view, not a
    read at seat -1 or seat 1. A draw reads winner 2."""
    g = _finished_game()
    assert g.done and g.current_player == -1
    assert np.array_equal(g.observation(), g.observation(0))
    assert not np.array_equal(g.observation(), g.observation(1))
    d = g.clone()
    d.row[L.G_WINNER] = 2
    assert d.winner == 2 and d.terminated == (int(d.row[L.G_DONE]) == L.DONE_TERMINAL)


# ----------------------------------------------------------------------------- selfcheck
def test_verify_report_ok_needs_no_mismatch_and_no_order_violation():
    """VerifyReport.ok (the `tcg verify` exit status) is False on an order violation alone."""
    assert VerifyReport().ok
    assert not VerifyReport(order_violations=1).ok
    assert not VerifyReport(mismatches=1).ok


def test_deck_pairs_are_every_ordered_pairing():
    """deck_pairs: every (deck0, deck1) of the prebuilt decks, mirror matches included."""
    pool = default_pool()
    rows = [deck_ids(d, pool) for d in default_decks().values()]
    pairs = deck_pairs(pool)
    assert len(pairs) == len(rows) ** 2
    got = {(a.tobytes(), b.tobytes()) for a, b in pairs}
    assert got == {(a.tobytes(), b.tobytes()) for a in rows for b in rows}


def test_verify_random_states_threads_its_seed_and_rotates_the_pairings(monkeypatch):
    """The seed decides the games (same seed, same game seeds; another seed, others), and
    game k plays pairing k mod len(pairs)."""
    from tcg_env import selfcheck
    seen = []
    real = selfcheck.engine.reset_game

    def spy(row, cards, d0, d1, seed):
        seen.append((d0.tobytes(), d1.tobytes(), int(seed)))
        return real(row, cards, d0, d1, seed)

    monkeypatch.setattr(selfcheck.engine, "reset_game", spy)
    rep = verify_random_states(300, seed=11)
    first = list(seen)
    seen.clear()
    assert verify_random_states(300, seed=11).games == rep.games and seen == first
    seen.clear()
    verify_random_states(300, seed=12)
    assert [s for *_, s in seen] != [s for *_, s in first]
    pairs = deck_pairs()
    assert rep.games == len(first) >= 2
    for k, (d0, d1, _) in enumerate(first):
        a, b = pairs[k % len(pairs)]
        assert (d0, d1) == (a.tobytes(), b.tobytes()), k


def test_verify_random_states_reports_the_largest_legal_list():
    """max_legal is the legal count of the largest visited list: over one state, that state's."""
    from tcg_env import selfcheck
    rep = verify_random_states(1, seed=0)
    game_seed = int(np.random.default_rng(0).integers(2 ** 63))   # the first game seed it draws
    d0, d1 = deck_pairs()[0]
    first = GameState(np.zeros(L.STATE_SIZE, dtype=np.int32))
    selfcheck.engine.reset_game(first.row, first.pool.table, d0, d1, np.uint64(game_seed))
    assert rep.states == 1 and rep.max_legal == len(first.legal_tuples()) > 1


def test_verify_random_states_keeps_the_first_ten_failures(monkeypatch):
    """A crosscheck mismatch is counted and up to ten are kept with game seed, decision, tuple,
    explain's words and whether it was listed."""
    from tcg_env import selfcheck
    real = selfcheck.crosscheck_state

    def liar(row, cards, legal, listed):
        n, bad, f0, f1, f2, f3, order_bad = real(row, cards, legal, listed)
        return n, 1, int(Primary.BLOCK), 0, 0, 0, order_bad

    monkeypatch.setattr(selfcheck, "crosscheck_state", liar)
    rep = verify_random_states(25, seed=4)
    assert rep.mismatches == 25 and not rep.ok
    assert len(rep.failures) == 10
    seed0, decision, t, why, listed = rep.failures[0]
    assert decision == 0 and t == (int(Primary.BLOCK), 0, 0, 0) and isinstance(why, str) and listed is False
    assert [f[1] for f in rep.failures] == list(range(10))


def _invariant_state():
    """A real mid-game state that passes every invariant, to perturb one word at a time."""
    g = _main_phase(1)
    assert check_invariants(g) == []
    return g


def test_check_invariants_reports_each_broken_rule():
    """Each structural rule fires, for either player, as the one violation ``check_invariants``
    reports (``state_rows_problem`` finds it first): a card past a zone's count, no card below
    it, a leader at 0 health without the fallen flag or above its maximum, tapped IKZ beyond the
    IKZ area, leftovers in an empty board slot, a unit at 0 health or above its maximum. A card
    gone from every zone breaks conservation."""
    g = _invariant_state()
    b0, b1 = _pb(0), _pb(1)
    hand1 = int(g.row[b1 + L.P_HAND_N])
    ikz0 = int(g.row[b0 + L.P_IKZ_N])
    deck0 = int(g.row[b0 + L.P_DECK_N])
    assert hand1 >= 1 and deck0 >= 1
    cases = [
        ({b1 + L.P_HAND + hand1: 11},
         f"player 1 hand position {hand1} (word {b1 + L.P_HAND + hand1}) holds card id 11 past its count {hand1}"),
        ({b0 + L.P_DECK: 0}, f"player 0 deck position 0 (word {b0 + L.P_DECK}) holds no card (id 0) below its count {deck0}"),
        ({b1 + L.P_HP: 0}, "player 1 leader health 0 disagrees with its fallen flag 0"),
        ({b1 + L.P_HP: int(g.row[b1 + L.P_MAXHP]) + 1},
         f"player 1 leader health {int(g.row[b1 + L.P_MAXHP]) + 1} is above its maximum health {int(g.row[b1 + L.P_MAXHP])}"),
        ({b0 + L.P_IKZ_TAPPED: ikz0 + 1}, f"player 0 has {ikz0 + 1} tapped IKZ but {ikz0} in the IKZ area"),
        ({_slot(1, 3, L.B_KW): 1}, f"player 1 board slot 3 is empty but its keyword bits (word {_slot(1, 3, L.B_KW)}) is 1"),
        ({_slot(0, 0, L.B_WEAPON): 5}, f"player 0 board slot 0 is empty but its weapon id (word {_slot(0, 0, L.B_WEAPON)}) is 5"),
    ]
    for words, says in cases:
        h = g.clone()
        for w, v in words.items():
            h.row[w] = v
        assert check_invariants(h) == [says]
        assert state_rows_problem(h.row, h.pool) == f"row 0: {says}"
    # a unit on player 1's board: move player 1's last hand card to slot 0
    h = g.clone()
    cid = int(h.row[b1 + L.P_HAND + hand1 - 1])
    h.row[b1 + L.P_HAND + hand1 - 1] = 0
    h.row[b1 + L.P_HAND_N] = hand1 - 1
    u = _slot(1, 0, 0)
    h.row[u + L.B_CARD] = cid
    h.row[u + L.B_ATK] = 1
    h.row[u + L.B_MAXHP] = 2
    h.row[u + L.B_HP] = 2
    assert check_invariants(h) == []
    for hp in (0, 3):
        h.row[u + L.B_HP] = hp
        assert check_invariants(h) == [f"player 1 board slot 0 health {hp} is outside 1..2 (its maximum health)"]
    # one card copied over another of a different id: conservation, which the row checks leave to check_invariants
    h = g.clone()
    last = int(h.row[b1 + L.P_HAND + hand1 - 1])
    deck1 = h.row[b1 + L.P_DECK:b1 + L.P_DECK + int(h.row[b1 + L.P_DECK_N])]
    h.row[b1 + L.P_HAND + hand1 - 1] = next(int(c) for c in deck1 if c != last)
    assert state_rows_problem(h.row, h.pool) is None
    assert check_invariants(h) == ["p1 main-deck cards not conserved"]


def test_check_invariants_refuses_a_repeated_or_unordered_legal_list():
    """The legal list must be strictly increasing: a duplicate tuple is reported, as is a
    decreasing pair; the true list passes."""
    g = _invariant_state()
    assert check_invariants(g) == []
    a, b = (0, 0, 0, 0), (1, 0, 0, 0)
    for fake in (np.array([a, a], dtype=np.int8), np.array([b, a], dtype=np.int8)):
        h = g.clone()
        h.legal_tuples = lambda fake=fake: fake.copy()
        assert "legal list is not strictly increasing (order or duplicates)" in check_invariants(h)


def test_a_pending_choice_must_be_an_ability_of_its_pending_card():
    """The kernels resolve a pending target choice with the effect, arguments and target rule
    stored in the row (SUMMON's first argument is a token's card id, DRAW's a loop count), so
    a row from outside whose pending words are not one of the pending card's targeted abilities
    is refused by name; before, a SUMMON pending with card id 10**8 passed the checks and the
    next apply crashed the process. A pending mode choice needs a card with modes. Every pending
    choice of real play passes (property over random games that reach both kinds)."""
    from prefabs.enums import Effect, Target
    from tcg_env import VecTCG
    env = VecTCG(64, seed=3)
    rng = np.random.default_rng(3)
    seen = {L.PH_CHOOSE_TARGET: 0, L.PH_CHOOSE_MODE: 0}
    target_row = None
    for _ in range(400):
        assert state_rows_problem(env.state, env.pool) is None
        for ph in seen:
            seen[ph] += int((env.state[:, L.G_PHASE] == ph).sum())
        pend = np.flatnonzero(env.state[:, L.G_PHASE] == L.PH_CHOOSE_TARGET)
        if target_row is None and len(pend):
            target_row = env.state[pend[0]].copy()
        k = rng.integers(0, np.maximum(env.legal_count, 1))
        env.step(env.legal_tuples[np.arange(64), k].astype(np.int32))
    assert min(seen.values()) > 0, seen

    pool = default_pool()
    for word, value in ((L.G_PEND_A1, target_row[L.G_PEND_A1] + 1), (L.G_PEND_A2, 10 ** 6),
                        (L.G_PEND_EFF, int(Effect.SUMMON)), (L.G_PEND_TGT, int(Target.SELF)),
                        (L.G_PEND_CARD, 0)):
        row = target_row.copy()
        row[word] = value
        assert "is not an ability of its pending card" in state_rows_problem(row, pool), (word, value)
    # the crash: a spell with a SUMMON of card 10**8 pending (no card asks a target for a SUMMON)
    row = target_row.copy()
    row[[L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2]] = (int(Effect.SUMMON), 10 ** 8, 1)
    g = GameState(target_row.copy(), pool)
    bad = GameState(row, pool)
    assert GameState.from_bytes(g.to_bytes()) == g
    with pytest.raises(StateFormatError, match="pending target choice .* not an ability"):
        GameState.from_bytes(bad.to_bytes())
    # a mode choice pending for a card without modes (a vanilla unit) would leave no legal action
    from prefabs import table as T
    no_modes = next(c for c in range(1, len(pool) + 1) if pool.table[c, T.C_NMODES] == 0)
    row = target_row.copy()
    row[L.G_PHASE], row[L.G_PEND_CARD] = L.PH_CHOOSE_MODE, no_modes
    row[[L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]] = 0
    assert state_rows_problem(row, pool) == f"row 0: a mode choice is pending for card id {no_modes}, which has no modes"


def test_a_pending_choice_belongs_to_the_active_player_and_the_card_just_played():
    """Only a card just played asks for a choice: a unit's on-play (a target or a mode) and a
    spell's modes (a spell takes its target when played). So a pending choice is the active
    player's, its source slot holds that unit (-1 for a spell), and a target choice is a unit's.
    A row from outside that breaks one is refused by name (it would hand the choice to the other
    player, or point SELF at another unit); every choice of real play passes, and random play
    reaches all three kinds."""
    from prefabs import table as T
    from prefabs.enums import CardType
    from tcg_env import VecTCG
    pool = default_pool()
    env = VecTCG(64, seed=11)
    rng = np.random.default_rng(11)
    found = {}   # (phase, card type) -> a row of real play with such a choice pending
    for _ in range(600):
        assert state_rows_problem(env.state, env.pool) is None
        for i in np.flatnonzero(np.isin(env.state[:, L.G_PHASE], (L.PH_CHOOSE_TARGET, L.PH_CHOOSE_MODE))):
            row = env.state[i]
            found.setdefault((int(row[L.G_PHASE]), CardType(int(pool.table[row[L.G_PEND_CARD], T.C_TYPE]))), row.copy())
        k = rng.integers(0, np.maximum(env.legal_count, 1))
        env.step(env.legal_tuples[np.arange(64), k].astype(np.int32))
    assert set(found) == {(L.PH_CHOOSE_TARGET, CardType.UNIT), (L.PH_CHOOSE_MODE, CardType.UNIT),
                          (L.PH_CHOOSE_MODE, CardType.SPELL)}, sorted(found)
    for (phase, kind), good in found.items():
        row = good.copy()
        row[L.G_PEND_PLAYER] = 1 - row[L.G_ACTIVE]
        assert "a pending choice belongs to player" in state_rows_problem(row, pool)
        row = good.copy()
        if kind == CardType.SPELL:
            row[L.G_PEND_SLOT] = 0
            assert "a spell's pending choice has source slot 0" in state_rows_problem(row, pool)
        else:
            a, card = int(row[L.G_ACTIVE]), row[L.G_PEND_CARD]
            other = next(k for k in range(BOARD_SLOTS) if row[_slot(a, k, L.B_CARD)] != card)
            for slot in (-1, other):
                row[L.G_PEND_SLOT] = slot
                assert "a unit's pending choice must come from the unit just played" in state_rows_problem(row, pool)
        with pytest.raises(StateFormatError, match="pending choice"):
            GameState.from_bytes(GameState(row, pool).to_bytes())
    # a target choice written in for a spell or a leader, each with its own targeted ability as
    # the pending one (so the ability check passes): a spell or a leader takes its target when used
    for name, slot_kind in (("Unmake", T.SLOT_PLAY), ("Grask, Ember Warlord", T.SLOT_ACT)):
        row = found[(L.PH_CHOOSE_TARGET, CardType.UNIT)].copy()
        c = pool.id_of(name)
        row[[L.G_PEND_CARD, L.G_PEND_SLOT]] = c, -1
        row[[L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]] = pool.table[
            c, T.C_ABIL + slot_kind * T.ABIL_WIDTH:T.C_ABIL + (slot_kind + 1) * T.ABIL_WIDTH]
        kind = CardType(int(pool.table[c, T.C_TYPE])).name
        assert state_rows_problem(row, pool) == (f"row 0: a target choice is pending for card id {c}, a {kind}; only "
                                                 f"a unit's on-play asks for a target, and only a unit's on-play or a "
                                                 f"spell for a mode")


def test_a_pending_target_choice_with_nothing_to_target_is_refused():
    """The engine asks for a target only when its rule has one, so a pending target choice with
    none lists no tuple while the game is not over: a row that could never go on. Such a row
    from outside (every other check passes it) is refused by name, through from_bytes too;
    the same choice with a target on the board passes and lists that target. A main-phase row
    with no enemy unit (Dusk Assassin, just played into slot 0, with its on-play DESTROY of an
    enemy unit pending) and the same row with a token unit in the enemy garden."""
    from prefabs import table as T
    from prefabs.table import C_TOKEN
    pool = default_pool()
    g = _main_phase()
    row = g.row.copy()
    a = int(row[L.G_ACTIVE])
    assert not row[[_slot(p, k, L.B_CARD) for p in range(2) for k in range(BOARD_SLOTS)]].any()
    c = pool.id_of("Dusk Assassin")
    play = pool.table[c, T.C_ABIL + T.SLOT_PLAY * T.ABIL_WIDTH:T.C_ABIL + (T.SLOT_PLAY + 1) * T.ABIL_WIDTH]
    n = int(row[_pb(a) + L.P_DECK_N])   # the deck's top card is the one on the board now
    row[[_pb(a) + L.P_DECK + n - 1, _pb(a) + L.P_DECK_N]] = 0, n - 1
    row[[_slot(a, 0, f) for f in (L.B_CARD, L.B_ATK, L.B_HP, L.B_MAXHP, L.B_SICK)]] = (
        c, pool.by_name["Dusk Assassin"].attack, pool.by_name["Dusk Assassin"].health,
        pool.by_name["Dusk Assassin"].health, 1)
    row[[L.G_PHASE, L.G_PEND_PLAYER, L.G_PEND_CARD, L.G_PEND_SLOT]] = L.PH_CHOOSE_TARGET, a, c, 0
    row[[L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]] = play
    stuck = GameState(row.copy(), pool)   # hand-built: the kernels can read it
    assert len(stuck.legal_tuples()) == 0 and not stuck.done   # what the check guards against
    says = (f"a target choice is pending (card id {c}, target rule {play[3]}) but nothing is a legal target for "
            f"player {a}")
    assert state_rows_problem(row, pool) == f"row 0: {says}: the engine asks for a target only when one exists, " \
                                            "and this game could never go on"
    with pytest.raises(StateFormatError, match=re.escape(says)):
        GameState.from_bytes(stuck.to_bytes())
    token = int(np.flatnonzero(pool.table[:, C_TOKEN])[0])   # owned by no decklist: no count changes
    row[[_slot(1 - a, 2, f) for f in (L.B_CARD, L.B_HP, L.B_MAXHP)]] = token, 1, 1
    assert state_rows_problem(row, pool) is None
    target = GameState.from_bytes(GameState(row, pool).to_bytes()).legal_tuples()
    assert [tuple(t) for t in target] == [(int(Primary.CHOOSE_TARGET), 0, int(target[0][2]), 0)]
    # several rows: the first stuck one is named, after sound rows and before a later bad one
    rows = np.stack([g.row, row, stuck.row, g.row])
    rows[3, L.G_TURN] = L.TURN_CAP + 1
    assert state_rows_problem(rows, pool).startswith(f"row 2: {says}")


def test_check_invariants_reports_a_row_no_game_can_hold_without_running_it():
    """A row outside the engine's ranges (the turn past the cap, a hand of 99 cards, a pending
    SUMMON of card 10**8) is one violation in words, from state_rows_problem, not a
    StateFormatError from the bytes round trip or a crash in the engine."""
    g = _invariant_state()
    for word, value, says in ((L.G_TURN, L.TURN_CAP + 1, f"turn (word {L.G_TURN}) is {L.TURN_CAP + 1}, outside"),
                              (_pb(0) + L.P_HAND_N, 99, "player 0 hand count")):
        h = g.clone()
        h.row[word] = value
        bad = check_invariants(h)
        assert len(bad) == 1 and bad[0].startswith(says), bad   # one state: no "row 0: " before it
    from prefabs.enums import Effect, Target
    h = g.clone()
    h.row[[L.G_PHASE, L.G_PEND_CARD, L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]] = (
        L.PH_CHOOSE_TARGET, h.pool.id_of("Spark Jolt"), int(Effect.SUMMON), 10 ** 8, 1, int(Target.ENEMY_UNIT))
    bad = check_invariants(h)
    assert len(bad) == 1 and bad[0].startswith("the pending target choice (effect"), bad
    assert "is not an ability of its pending card" in bad[0], bad


FUZZ = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from prefabs import default_pool
from tcg_env import GameState, VecTCG
from tcg_env.state import _row_checks, state_rows_problem
from prefabs.enums import Effect
from verification.layout import (G_PEND_A1, G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_TGT, G_PHASE, PH_CHOOSE_TARGET,
                                 STATE_SIZE)
pool = default_pool()
checks = _row_checks(len(pool))
checked = {int(c) for _, cols, _, _ in checks for c in cols}
free = np.array([w for w in range(STATE_SIZE) if w not in checked])
accepted = 0
for seed in range(int(sys.argv[2])):
    rng = np.random.default_rng(seed)
    env = VecTCG(32, seed=seed)
    for _ in range(int(rng.integers(0, 60))):
        env.step(env.legal_tuples[np.arange(32), rng.integers(0, np.maximum(env.legal_count, 1))].astype(np.int32))
    rows = env.state.copy()
    for r in range(32):
        for _ in range(int(rng.integers(1, 6))):   # words the checks bound: any value in range
            _, cols, lo, hi = checks[rng.integers(len(checks))]
            rows[r, cols[rng.integers(len(cols))]] = rng.integers(lo, hi + 1)
        if rng.random() < 0.5:   # a word they leave free: any value
            rows[r, free[rng.integers(len(free))]] = rng.integers(-2 ** 31, 2 ** 31 - 1)
        if rng.random() < 0.3:   # a pending target choice made up from in-range words
            rows[r, [G_PHASE, G_PEND_CARD, G_PEND_EFF, G_PEND_A1, G_PEND_A2, G_PEND_TGT]] = (
                PH_CHOOSE_TARGET, rng.integers(1, len(pool) + 1), rng.integers(1, max(Effect) + 1),
                rng.choice([rng.integers(0, 4), rng.integers(0, 2 ** 31 - 1)]), rng.integers(0, 4), rng.integers(1, 6))
    for r in range(32):
        if state_rows_problem(rows[r], pool) is not None:
            continue
        accepted += 1
        g = GameState(rows[r].copy(), pool)
        for _ in range(30):
            lt = g.legal_tuples()
            if g.done:
                break
            if len(lt) == 0:   # a row accepted that can never go on
                print("STUCK", seed, r)
                break
            g.apply_unchecked(tuple(lt[rng.integers(len(lt))]))
            left = state_rows_problem(g.row, pool)   # the engine keeps an accepted row acceptable
            if left:
                print("LEFT", seed, r, left)
                break
print(accepted)
"""


def test_rows_the_checks_accept_can_be_played_without_crashing():
    """Property behind state_rows_problem: a row it accepts is safe for the kernels. Real
    positions get random values in the checked words (within their ranges) and in the words
    left free (the RNG, counters, unused words), and every accepted row is played on with
    random legal tuples for 30 decisions, in a subprocess so that a crash is a failure and not
    the end of the test run; every row the engine makes from an accepted one is accepted too
    (the checks describe a set the engine does not leave). Some rows get a made-up pending target choice (a pending SUMMON of
    a card past the table used to pass the checks and crash the engine)."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", FUZZ, str(root), "24"], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.returncode, res.stderr[-2000:])
    assert "LEFT" not in res.stdout and "STUCK" not in res.stdout, res.stdout[-2000:]
    assert int(res.stdout.strip().splitlines()[-1]) > 80   # many corrupted rows stay in range
