"""Second mutation audit of ``tcg_env/state.py`` (the state-row checks, the structural checks
``_structure_problem`` added in ae58c5e, now ``_structure_problems``; bytes, clone) and ``tcg_env/selfcheck.py``
(``check_invariants``, ``verify_random_states``).

84 one-line mutants (40 of ``_structure_problem`` S1-S40, 17 of the word ranges R1-R17, 9 of
``GameState`` G1-G9, 18 of ``selfcheck`` C1-C18), run against test_game_state.py, the state-row
and bytes tests of test_bad_input.py, the two structural tests of test_explain_afford_audit.py
and two deck pairings of test_random_sim.py: 33 killed, 51 survived. This file kills 48 of the
51. One is equivalent: G9 (``GameState._legal_n`` set to 0 instead of -1) changes nothing,
``GameState`` never reads that attribute. Two are left untested: S38 (the pending-choice check
before the structural ones) changes only which of two problems of one row is named, an order
no docstring promises; C15 (``check_invariants`` bounding seat 0's observation rather than the
actor's) differs only for an encoder that breaks its bounds for one seat, and no docstring
says whose view is bounded.

The audit also found two real defects, mended after it (tests in test_game_state.py): rows
whose zones held more cards than the player owns (a full discard beside a full hand, a full IKZ
area beside a non-empty IKZ deck) passed, and the engine then wrote a card past its zone; and
the row named was the first found by the first kind of check, not the lowest bad row.

Each test's docstring names the mutants it catches. Rows here are edited by hand: the row
checks bound how many cards a player holds (its decklist's 30, its IKZ list's 10) and their
kind (IKZ cards in the IKZ zones, main-deck cards elsewhere) but not which, so from an emptied
row (``_base``) a zone can be filled freely to reach each bound's exact edge.
"""
import dataclasses

import numpy as np
import pytest

from prefabs import CardPool, CardType, default_pool
from prefabs.table import C_TOKEN, C_TYPE
from tcg_env import GameState, StateFormatError
from tcg_env.selfcheck import check_invariants, verify_random_states
from tcg_env.state import state_rows_problem
from verification import layout as L
from verification.spec import BOARD_SLOTS, HAND_MAX, Primary

from test_game_state import _main_phase, _pb, _slot

POOL = default_pool()
N = len(POOL)
UNIT = POOL.id_of("Scrapyard Mutt")     # any main-deck card will do for the row checks
IKZ = int(np.flatnonzero(POOL.table[:, C_TYPE] == CardType.IKZ)[0])   # for the IKZ area and IKZ deck
TOKEN = int(np.flatnonzero(POOL.table[:, C_TOKEN])[0])   # a summon-only unit: no decklist owns it
ZONES = (("IKZ area", L.P_IKZ, L.P_IKZ_N, L.IKZ_DECK_SIZE), ("IKZ deck", L.P_IKZDECK, L.P_IKZDECK_N, L.IKZ_DECK_SIZE),
         ("deck", L.P_DECK, L.P_DECK_N, L.DECK_SIZE), ("hand", L.P_HAND, L.P_HAND_N, HAND_MAX),
         ("discard", L.P_DISC, L.P_DISC_N, L.DISCARD_MAX))
FIELDS = ((L.B_ATK, "attack"), (L.B_HP, "health"), (L.B_MAXHP, "maximum health"), (L.B_KW, "keyword bits"),
          (L.B_READY, "ready flag"), (L.B_SICK, "arrived flag"), (L.B_MOVED, "moved flag"),
          (L.B_USED, "ability used flag"), (L.B_WEAPON, "weapon id"))


def _problem(row):
    return state_rows_problem(row, POOL)


def _base() -> np.ndarray:
    """A real main-phase row with every zone of both players emptied (no card in the deck, hand,
    discard, IKZ area or IKZ deck, none tapped), so any one zone can be filled to its capacity
    and stay within the 30 cards of a decklist and the 10 of an IKZ list."""
    row = _main_phase().row.copy()
    for p in (0, 1):
        for _, off, cnt, cap in ZONES:
            _fill(row, p, off, cnt, 0, cap)
        row[_pb(p) + L.P_IKZ_TAPPED] = 0
    assert _problem(row) is None
    return row


def _fill(row, p, off, cnt, n, cap, card=None):
    """Zone ``off`` of player p: n copies of ``card`` (default: an IKZ card in the IKZ zones, a unit
    elsewhere; the row checks ask each zone for its kind of card)."""
    if card is None:
        card = IKZ if off in (L.P_IKZ, L.P_IKZDECK) else UNIT
    b = _pb(p)
    row[b + off:b + off + cap] = 0
    row[b + off:b + off + n] = card
    row[b + cnt] = n


def _man(row, p, slot, hp=3, maxhp=3, card=UNIT):
    row[_slot(p, slot, 0):_slot(p, slot, 0) + L.B_WIDTH] = 0
    row[[_slot(p, slot, L.B_CARD), _slot(p, slot, L.B_HP), _slot(p, slot, L.B_MAXHP)]] = card, hp, maxhp


def _maximal() -> np.ndarray:
    """Each word at the top of its range where the structure allows it: for both players the
    IKZ area full and every IKZ tapped, a full hand and 19 cards in the deck (29 of the
    decklist's 30, so a weapon still fits), every slot manned by a token (owned by no decklist)
    at MAX_STAT health, leaders at MAX_STAT."""
    row = _base()
    for p in (0, 1):
        _fill(row, p, L.P_IKZ, L.P_IKZ_N, L.IKZ_DECK_SIZE, L.IKZ_DECK_SIZE)
        _fill(row, p, L.P_HAND, L.P_HAND_N, HAND_MAX, HAND_MAX)
        _fill(row, p, L.P_DECK, L.P_DECK_N, L.DECK_SIZE - HAND_MAX - 1, L.DECK_SIZE)
        for slot in range(BOARD_SLOTS):
            _man(row, p, slot, L.MAX_STAT, L.MAX_STAT, card=TOKEN)
        row[_pb(p) + L.P_IKZ_TAPPED] = L.IKZ_DECK_SIZE
        row[[_pb(p) + L.P_HP, _pb(p) + L.P_MAXHP]] = L.MAX_STAT
    assert _problem(row) is None
    return row


# ----------------------------------------------------------------------------- zones
def test_every_zone_of_both_players_is_checked_at_both_ends():
    """Each zone (IKZ area, IKZ deck, deck, hand, discard) of each player: full to its last
    position passes; a hole at the last position below a full count, or a card at the last
    position past a count of 0, is refused, naming the player, the zone, the position, the word
    and the count. Also a count covering exactly positions 0..k-1.
    Mutants: the IKZ area, IKZ deck or discard dropped from the zone list (S3, S4, S5), a zone
    read one position short (deck S7, hand S8, discard S9)."""
    base = _base()
    for p in (0, 1):
        b = _pb(p)
        for name, off, cnt, cap in ZONES:
            row = base.copy()
            _fill(row, p, off, cnt, cap, cap)
            assert _problem(row) is None, name
            row[b + off + cap - 1] = 0
            assert _problem(row) == (f"row 0: player {p} {name} position {cap - 1} (word {b + off + cap - 1}) holds "
                                     f"no card (id 0) below its count {cap}")
            row = base.copy()
            _fill(row, p, off, cnt, 0, cap)
            assert _problem(row) is None, name
            row[b + off + cap - 1] = UNIT
            assert _problem(row) == (f"row 0: player {p} {name} position {cap - 1} (word {b + off + cap - 1}) holds "
                                     f"card id {UNIT} past its count 0")
            row = base.copy()
            _fill(row, p, off, cnt, 3, cap)
            assert _problem(row) is None, name
            row[b + off + 3] = UNIT
            assert _problem(row) == (f"row 0: player {p} {name} position 3 (word {b + off + 3}) holds "
                                     f"card id {UNIT} past its count 3")


# ----------------------------------------------------------------------------- board
def test_every_field_of_every_empty_slot_of_both_players_is_named():
    """An empty slot (card id 0) with any other field set is refused, for every slot 0..9 of
    both players and every field, naming the slot, the field and its word.
    Mutants: the last slot skipped (S16), two field names swapped (S19)."""
    base = _base()
    for p in (0, 1):
        for slot in range(BOARD_SLOTS):
            for f, name in FIELDS:
                row = base.copy()
                row[_slot(p, slot, f)] = 1
                assert _problem(row) == (f"row 0: player {p} board slot {slot} is empty but its {name} "
                                         f"(word {_slot(p, slot, f)}) is 1"), (p, slot, name)


def test_a_units_health_is_1_to_its_maximum_exactly():
    """A unit's health may be 1 and may equal its maximum; 0 or one above is refused, on the
    first and the last slot of both players, and at MAX_STAT.
    Mutants: health 0 accepted (S22), one above the maximum accepted (S23), health at the
    maximum refused (S24), empty slots judged by health (S39)."""
    base = _base()
    for p in (0, 1):
        for slot in (0, BOARD_SLOTS - 1):
            for maxhp in (5, L.MAX_STAT):
                for hp in (1, maxhp):
                    row = base.copy()
                    _man(row, p, slot, hp, maxhp)
                    assert _problem(row) is None, (p, slot, hp, maxhp)
                for hp in (0, maxhp + 1):
                    if hp > L.MAX_STAT:
                        continue
                    row = base.copy()
                    _man(row, p, slot, hp, maxhp)
                    assert _problem(row) == (f"row 0: player {p} board slot {slot} health {hp} is outside "
                                             f"1..{maxhp} (its maximum health)")


# ----------------------------------------------------------------------------- IKZ and leaders
def test_tapped_ikz_is_at_most_the_ikz_area_count():
    """All of the IKZ area tapped passes, one more is refused, for both players; the bound is
    the IKZ area's count, not the IKZ deck's (here they differ: 3 and 7).
    Mutants: one too many tapped accepted (S26), every IKZ tapped refused (S27), the IKZ deck
    count read as the bound (S28)."""
    base = _base()
    for p in (0, 1):
        b = _pb(p)
        row = base.copy()
        _fill(row, p, L.P_IKZ, L.P_IKZ_N, 3, L.IKZ_DECK_SIZE)
        _fill(row, p, L.P_IKZDECK, L.P_IKZDECK_N, 7, L.IKZ_DECK_SIZE)
        row[b + L.P_IKZ_TAPPED] = 3
        assert _problem(row) is None
        row[b + L.P_IKZ_TAPPED] = 4
        assert _problem(row) == f"row 0: player {p} has 4 tapped IKZ but 3 in the IKZ area"
        _fill(row, p, L.P_IKZDECK, L.P_IKZDECK_N, 2, L.IKZ_DECK_SIZE)
        assert _problem(row) == f"row 0: player {p} has 4 tapped IKZ but 3 in the IKZ area"


def test_a_leaders_health_its_maximum_and_the_fallen_flag():
    """A leader's health may equal its maximum, not exceed it; it is 0 exactly when the fallen
    flag is 1, in both directions, for each player on its own (player 1 fallen while player 0
    stands, and the other way round, are real end positions).
    Mutants: one above the maximum accepted (S29), health at the maximum refused (S30), a fallen
    flag on a leader with health accepted (S31), a leader at 0 not fallen accepted (S32), player
    0's fallen flag read for both players (S40)."""
    base = _base()
    for p in (0, 1):
        b = _pb(p)
        row = base.copy()
        row[[b + L.P_HP, b + L.P_MAXHP]] = 7
        assert _problem(row) is None
        row[b + L.P_HP] = 8
        assert _problem(row) == f"row 0: player {p} leader health 8 is above its maximum health 7"
        row = base.copy()
        row[[b + L.P_HP, b + L.P_FELL]] = 0, 1
        row[[L.G_PHASE, L.G_DONE, L.G_WINNER]] = L.PH_OVER, L.DONE_TERMINAL, 1 - p   # the game it ends
        assert _problem(row) is None, p   # the other leader stands
        row[b + L.P_FELL] = 0
        assert _problem(row) == f"row 0: player {p} leader health 0 disagrees with its fallen flag 0"
        row[[b + L.P_HP, b + L.P_FELL]] = 5, 1
        assert _problem(row) == f"row 0: player {p} leader health 5 disagrees with its fallen flag 1"


# ----------------------------------------------------------------------------- the first bad row
def test_each_structural_check_names_the_first_bad_row_with_its_own_values():
    """Of two rows broken the same way (rows 1 and 3 of four, with different values), each
    structural check names row 1 and row 1's values, not row 0's or row 3's.
    Mutants: a zone's message with row 0's count (S14), the last bad row named for a zone (S15),
    an empty slot (S37), a unit's health (S36), tapped IKZ (S33), a leader's fallen flag (S34)
    or health above its maximum (S35); an empty slot's value read from row 0 (S21), a unit's
    maximum read from row 0 (S25)."""
    base = _base()
    b0, b1 = _pb(0), _pb(1)
    hand = int(base[b1 + L.P_HAND_N])

    def zone(row, k):
        row[b1 + L.P_HAND_N] = hand + k   # positions hand..hand+k-1 hold nothing

    def empty_slot(row, k):
        row[_slot(1, 4, L.B_KW)] = k + 1

    def unit(row, k):
        _man(row, 0, 2, 4 + k, 3 + k)

    def tapped(row, k):
        _fill(row, 1, L.P_IKZ, L.P_IKZ_N, k, L.IKZ_DECK_SIZE)
        row[b1 + L.P_IKZ_TAPPED] = k + 1

    def above(row, k):
        row[[b0 + L.P_HP, b0 + L.P_MAXHP]] = 10 + k, 9 + k

    def fallen(row, k):
        row[[b1 + L.P_HP, b1 + L.P_FELL]] = 4 + k, 1

    cases = ((zone, f"player 1 hand position {hand} (word {b1 + L.P_HAND + hand}) holds no card (id 0) below its "
                    f"count {hand + 1}"),
             (empty_slot, f"player 1 board slot 4 is empty but its keyword bits (word {_slot(1, 4, L.B_KW)}) is 2"),
             (unit, "player 0 board slot 2 health 5 is outside 1..4 (its maximum health)"),
             (tapped, "player 1 has 2 tapped IKZ but 1 in the IKZ area"),
             (above, "player 0 leader health 11 is above its maximum health 10"),
             (fallen, "player 1 leader health 5 disagrees with its fallen flag 1"))
    for breaker, says in cases:
        rows = np.stack([base] * 4)
        breaker(rows[1], 1)
        breaker(rows[3], 2)
        assert _problem(rows) == f"row 1: {says}", breaker.__name__
        assert state_rows_problem(rows[1], POOL, name_row=False) == says


# ----------------------------------------------------------------------------- word ranges
def test_each_range_refuses_one_past_either_end_by_name():
    """One past the end of a range is refused with the range in words, before the structural
    checks can name something else: the leader card 0, a count one past its zone (the zone
    itself full), a discard card id past the pool, the fallen flag 2, a negative tapped IKZ or
    leader health or maximum health, a unit's maximum health past MAX_STAT, a negative attack,
    an attack target past the leader, an ability-used flag 2, done 3, a weapon id past the pool.
    The top of each range passes (the maximal row). Mutants: R1-R17 widened by one."""
    top = _maximal()
    b0, b1 = _pb(0), _pb(1)
    cases = [
        (b1 + L.P_LEADER, 0, "player 1 leader", 1, N),
        (b0 + L.P_IKZ_N, L.IKZ_DECK_SIZE + 1, "player 0 IKZ area count", 0, L.IKZ_DECK_SIZE),
        (b1 + L.P_IKZDECK_N, L.IKZ_DECK_SIZE + 1, "player 1 IKZ deck count", 0, L.IKZ_DECK_SIZE),
        (b0 + L.P_DECK_N, L.DECK_SIZE + 1, "player 0 deck count", 0, L.DECK_SIZE),
        (b1 + L.P_HAND_N, HAND_MAX + 1, "player 1 hand count", 0, HAND_MAX),
        (b0 + L.P_DISC_N, L.DISCARD_MAX + 1, "player 0 discard count", 0, L.DISCARD_MAX),
        (b1 + L.P_DISC + L.DISCARD_MAX - 1, N + 1, "player 1 card id", 0, N),
        (b1 + L.P_FELL, 2, "player 1 fallen flag", 0, 1),
        (b0 + L.P_IKZ_TAPPED, -1, "player 0 tapped IKZ count", 0, L.IKZ_DECK_SIZE),
        (b1 + L.P_HP, -1, "player 1 leader health", 0, L.MAX_STAT),
        (b0 + L.P_MAXHP, -1, "player 0 leader maximum health", 0, L.MAX_STAT),
        (_slot(1, 7, L.B_MAXHP), L.MAX_STAT + 1, "player 1 board maximum health", 0, L.MAX_STAT),
        (_slot(0, 9, L.B_ATK), -1, "player 0 board attack", 0, L.MAX_STAT),
        (L.G_ATK_TGT, L.ATK_TGT_LEADER + 1, "attack target", -1, L.ATK_TGT_LEADER),
        (_slot(1, 0, L.B_USED), 2, "player 1 board ability used flag", 0, 1),
        (L.G_DONE, 3, "done", 0, 2),
        (_slot(0, 5, L.B_WEAPON), N + 1, "player 0 board weapon id", 0, N),
    ]
    for word, value, says, lo, hi in cases:
        row = top.copy()
        row[word] = value
        assert _problem(row) == f"row 0: {says} (word {word}) is {value}, outside {lo}..{hi}", says
    # the attack target and done at the top of their ranges, in the phase that holds them (an
    # attack on the leader in the block phase; a truncated game over)
    status = {L.G_ATK_TGT: {L.G_PHASE: L.PH_BLOCK, L.G_ATK_SRC: 0}, L.G_DONE: {L.G_PHASE: L.PH_OVER}}
    # (card ids: the highest of the kind each place holds, the kind check being another rule)
    last = {k: int(np.flatnonzero(POOL.table[:, C_TYPE] == k)[-1]) for k in (CardType.WEAPON, CardType.LEADER)}
    for word, value in ((_slot(0, 5, L.B_WEAPON), last[CardType.WEAPON]), (_slot(1, 0, L.B_USED), 1),
                        (L.G_ATK_TGT, L.ATK_TGT_LEADER), (L.G_DONE, 2), (b1 + L.P_LEADER, last[CardType.LEADER])):
        row = top.copy()
        row[word] = value
        for w, v in status.get(word, {}).items():
            row[w] = v
        assert _problem(row) is None, word


# ----------------------------------------------------------------------------- bytes, clone, pool
def _extra_pool() -> CardPool:
    """The default cards plus a copy of a unit as card N + 1: a pool other than the default one."""
    mutt = POOL.by_name["Scrapyard Mutt"]
    return CardPool(list(POOL.cards) + [dataclasses.replace(mutt, id=N + 1, name="Audit Mutt")])


def test_bytes_and_clone_keep_the_card_pool_they_were_given():
    """A state of another pool (a unit of card N + 1 on the board, which only that pool has):
    from_bytes checks the row against the pool it is given, and the state it returns, like a
    clone, keeps that pool (its bytes carry that pool's digest).
    Mutants: from_bytes checking the row against the default pool (G5), from_bytes returning a
    state of the default pool (G4), clone() dropping the pool (G3)."""
    pool = _extra_pool()
    row = _base()
    _man(row, 0, 1, 2, 2, card=N + 1)
    assert state_rows_problem(row, pool) is None
    assert "board card id" in state_rows_problem(row, POOL)
    g = GameState(row, pool)
    h = GameState.from_bytes(g.to_bytes(), pool)
    assert h == g and h.pool is pool
    assert h.to_bytes() == g.to_bytes()
    c = g.clone()
    assert c.pool is pool and c.to_bytes() == g.to_bytes()
    with pytest.raises(StateFormatError, match="different card pool"):
        GameState.from_bytes(g.to_bytes())


def test_from_bytes_wants_the_exact_length_and_magic_and_gives_a_writable_row():
    """One byte too many is refused like one too few; a magic that differs only in its last
    letter is refused; the row from bytes is the engine's own writable int32 row (an action
    applies to it) and the state row shape is checked.
    Mutants: trailing bytes accepted (G1), a read-only row from the buffer (G2), the magic's
    last letter ignored (G7), a row of the wrong shape accepted (G6)."""
    g = _main_phase()
    data = g.to_bytes()
    with pytest.raises(StateFormatError, match=f"expected {len(data)} bytes, got {len(data) + 1}"):
        GameState.from_bytes(data + b"\0")
    with pytest.raises(StateFormatError, match="bad magic"):
        GameState.from_bytes(b"TCGX" + data[4:])
    h = GameState.from_bytes(data)
    assert h.row.flags.writeable and h.row.dtype == np.int32
    h.apply((int(Primary.END_TURN), 0, 0, 0))
    g.apply((int(Primary.END_TURN), 0, 0, 0))
    assert h == g
    for bad in (np.zeros((1, L.STATE_SIZE), np.int32), np.zeros(L.STATE_SIZE + 1, np.int32)):
        with pytest.raises(StateFormatError, match=rf"a state row is int32\[{L.STATE_SIZE}\]"):
            GameState(bad)


# ----------------------------------------------------------------------------- check_invariants
def _take(row, b, off, cnt, i) -> int:
    """Remove position i of a zone (the later cards move down), returning its card."""
    n = int(row[b + cnt])
    c = int(row[b + off + i])
    row[b + off + i:b + off + n - 1] = row[b + off + i + 1:b + off + n].copy()
    row[b + off + n - 1] = 0
    row[b + cnt] = n - 1
    return c


def _invariant_state() -> GameState:
    g = _main_phase(1)
    assert check_invariants(g) == []
    return g


def test_conservation_counts_the_discard_and_weapons_but_not_tokens():
    """Card conservation (every main-deck card in exactly one zone) counts the discard and a
    weapon attached to a unit, and not a token on the board (a token is in no decklist); a
    card copied over another is caught even when both ids occur more than once (a multiset, not
    a set).
    Mutants: a token counted as a deck card (C1), weapons not counted (C2), the discard not
    counted (C3), conservation as a set (C6)."""
    g = _invariant_state()
    b = _pb(0)
    types = POOL.table
    from prefabs import table as T
    # a hand card to the discard
    h = g.clone()
    c = _take(h.row, b, L.P_HAND, L.P_HAND_N, 0)
    n = int(h.row[b + L.P_DISC_N])
    h.row[b + L.P_DISC + n], h.row[b + L.P_DISC_N] = c, n + 1
    assert check_invariants(h) == []
    # a unit from the deck with a weapon from the deck attached, on slot 2
    h = g.clone()
    deck = [int(x) for x in h.row[b + L.P_DECK:b + L.P_DECK + int(h.row[b + L.P_DECK_N])]]
    from prefabs.enums import CardType
    wi = next(i for i, x in enumerate(deck) if POOL[x].type == CardType.WEAPON)
    w = _take(h.row, b, L.P_DECK, L.P_DECK_N, wi)
    deck = [int(x) for x in h.row[b + L.P_DECK:b + L.P_DECK + int(h.row[b + L.P_DECK_N])]]
    ui = next(i for i, x in enumerate(deck) if POOL[x].type == CardType.UNIT)
    u = _take(h.row, b, L.P_DECK, L.P_DECK_N, ui)
    _man(h.row, 0, 2, 2, 2, card=u)
    h.row[_slot(0, 2, L.B_WEAPON)] = w
    assert check_invariants(h) == []
    # a token unit on slot 6
    h = g.clone()
    token = next(c for c in range(1, N + 1) if types[c, T.C_TOKEN] == 1)
    _man(h.row, 0, 6, 1, 1, card=token)
    assert check_invariants(h) == []
    # a card copied over another, both ids present more than once
    h = g.clone()
    zone = [int(x) for x in h.row[b + L.P_DECK:b + L.P_DECK + int(h.row[b + L.P_DECK_N])]]
    held = zone + [int(x) for x in h.row[b + L.P_HAND:b + L.P_HAND + int(h.row[b + L.P_HAND_N])]]
    twice = [c for c in set(held) if held.count(c) >= 2]
    assert len(twice) >= 2
    i = zone.index(twice[0])
    h.row[b + L.P_DECK + i] = twice[1]
    assert state_rows_problem(h.row, h.pool) is None
    assert check_invariants(h) == ["p0 main-deck cards not conserved"]


def test_ikz_conservation_compares_the_cards_not_the_count():
    """An IKZ area card replaced by another IKZ card of a different kind breaks IKZ conservation
    though the count still matches. Mutant: IKZ conservation by count (C18)."""
    g = _invariant_state()
    b = _pb(1)
    h = g.clone()
    ikz = int(h.row[b + L.P_IKZDECK])
    other = next(c for c in (POOL.id_of("Plain IKZ"), POOL.id_of("Verdant IKZ")) if c != ikz)
    h.row[b + L.P_IKZDECK] = other
    assert check_invariants(h) == ["p1 IKZ cards not conserved"]


def test_check_invariants_reports_the_list_observation_clone_and_bytes_rules():
    """Each of the remaining invariants fires on its own, named in words: no legal tuple while
    the game runs, an observation value below its declared bound, a clone that differs, a bytes
    round trip that differs. Mutants: the done/legal check dropped (C7), only the upper
    observation bound checked (C8), the clone check dropped (C9), the bytes check dropped
    (C10)."""
    from tcg_env.observation import OBS_LOW
    g = _invariant_state()
    h = g.clone()
    h.legal_tuples = lambda: np.zeros((0, 4), np.int8)
    assert check_invariants(h) == ["done=False but 0 legal tuples"]
    h = g.clone()
    low = g.observation()
    k = int(np.flatnonzero(OBS_LOW > -128)[0])
    low[k] = OBS_LOW[k] - 1
    h.observation = lambda player=None: low.copy()
    assert check_invariants(h) == [f"observation outside declared bounds at {[k]}"]
    h = g.clone()
    other = g.clone()
    other.row[L.G_DECISIONS] += 1
    h.clone = lambda: other
    assert check_invariants(h) == ["clone differs"]
    h = g.clone()
    h.to_bytes = lambda: other.to_bytes()
    assert check_invariants(h) == ["bytes round trip differs"]


# ----------------------------------------------------------------------------- verify_random_states
def test_verify_random_states_counts_states_tuples_games_and_order_violations(monkeypatch):
    """Over many states: max_legal is the largest legal count seen (not the last), every state
    checks the whole tuple product space (13 x 32 x 32 x 2 tuples, DEVELOPERS.md), games is the
    number of games started, and an order violation reported by the crosscheck is counted.
    Mutants: max_legal as the last count (C11), tuples counted as the legal count (C12), order
    violations dropped (C13), one game too many (C14)."""
    from tcg_env import selfcheck
    seen, resets = [], []
    real, real_reset = selfcheck.crosscheck_state, selfcheck.engine.reset_game

    def spy(row, cards, legal, listed):
        out = real(row, cards, legal, listed)
        seen.append((out[0], listed.size))
        return out[:6] + (1,)

    monkeypatch.setattr(selfcheck, "crosscheck_state", spy)
    monkeypatch.setattr(selfcheck.engine, "reset_game", lambda *a: (resets.append(1), real_reset(*a))[1])
    rep = verify_random_states(150, seed=5)
    counts = [n for n, _ in seen]
    assert rep.states == len(seen) == 150
    assert rep.max_legal == max(counts) > counts[-1]
    assert rep.tuples_checked == 150 * 13 * 32 * 32 * 2 and all(s == 13 * 32 * 32 * 2 for _, s in seen)
    assert rep.order_violations == 150 and not rep.ok
    assert rep.games == len(resets) >= 2
