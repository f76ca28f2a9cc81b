"""One game as a Python object: checked and unchecked apply, clone, bytes, text.

``GameState`` wraps a single ``int32`` state row plus the card pool. It is the
per-game path the Gymnasium, PettingZoo and play faces use; the batched path is
``tcg_env.engine.step_batch``.
"""
from __future__ import annotations

import struct
from functools import lru_cache
from itertools import chain

import numpy as np

from prefabs import CardPool, Deck, DeckError, card_table_digest, default_decks, default_pool, deck_ids, find_deck
from prefabs.table import CARD_TABLE_VERSION
from verification import explain as X
from verification.errors import ActionOutOfRangeError, IllegalActionError, LegalCapacityError
from verification.layout import (DONE_NO, DONE_TERMINAL, DONE_TRUNCATED, G_DECISIONS, G_DONE, G_PHASE, G_TURN,
                                 G_WINNER, STATE_LAYOUT_VERSION, STATE_SIZE)
from verification.legal import enumerate_legal
from verification.rules import actor
from verification.spec import ACTION_SPEC_VERSION, MAX_LEGAL

from . import engine
from .observation import OBS_SIZE, write_obs

_MAGIC = b"TCGS"
_HEADER = struct.Struct("<4sHHHH16s")   # magic, state layout, action spec, card table, reserved, pool digest


class StateFormatError(ValueError):
    """Bytes that are not a serialized state of this engine and card pool."""


@lru_cache(maxsize=4)
def _row_checks(ncards: int) -> list[tuple[str, np.ndarray, int, int]]:
    """(field, word indices, lo, hi) of every state word the kernels use as an index or a count,
    or compare against an enumeration (a row outside these ranges would make them read or write
    out of bounds), and of every stat and flag (attack and health in 0..MAX_STAT as the rules
    clamp them, flags 0 or 1, keyword bits, the turn): no game reaches other values, and an
    observation would clip them without a word. Ranges come from the layout, the card pool and
    the rules' enums."""
    from prefabs.enums import Effect, Keyword, Target
    from verification import layout as L
    from verification.spec import BOARD_SLOTS, HAND_MAX
    g = [("phase", L.G_PHASE, 0, L.PH_OVER), ("active player", L.G_ACTIVE, 0, 1), ("first player", L.G_FIRST, 0, 1),
         ("done", L.G_DONE, 0, 2), ("winner", L.G_WINNER, -1, 2), ("attacker slot", L.G_ATK_SRC, -1, BOARD_SLOTS - 1),
         ("attack target", L.G_ATK_TGT, -1, L.ATK_TGT_LEADER), ("pending player", L.G_PEND_PLAYER, 0, 1),
         ("pending card", L.G_PEND_CARD, 0, ncards), ("pending slot", L.G_PEND_SLOT, -1, BOARD_SLOTS - 1),
         ("pending effect", L.G_PEND_EFF, 0, max(Effect)), ("pending target rule", L.G_PEND_TGT, 0, max(Target)),
         ("mulligan player", L.G_MULL_PLAYER, -1, 1), ("turn", L.G_TURN, 1, L.TURN_CAP),
         ("decisions", L.G_DECISIONS, 0, L.DECISION_CAP)]
    checks = [(name, np.array([i]), lo, hi) for name, i, lo, hi in g]
    cards = np.r_[L.P_IKZ:L.P_BOARD, L.P_DECKLIST:L.PLAYER_WORDS]   # every card-id area of a player
    board = np.arange(BOARD_SLOTS) * L.B_WIDTH + L.P_BOARD
    for p in (0, 1):
        b = L.P0 + p * L.PLAYER_WORDS
        checks += [(f"player {p} {name}", np.array([b + i]), lo, hi) for name, i, lo, hi in (
            ("leader", L.P_LEADER, 1, ncards), ("IKZ area count", L.P_IKZ_N, 0, L.IKZ_DECK_SIZE),
            ("tapped IKZ count", L.P_IKZ_TAPPED, 0, L.IKZ_DECK_SIZE),
            ("IKZ deck count", L.P_IKZDECK_N, 0, L.IKZ_DECK_SIZE), ("deck count", L.P_DECK_N, 0, L.DECK_SIZE),
            ("hand count", L.P_HAND_N, 0, HAND_MAX), ("discard count", L.P_DISC_N, 0, L.DISCARD_MAX),
            ("leader health", L.P_HP, 0, L.MAX_STAT), ("leader maximum health", L.P_MAXHP, 0, L.MAX_STAT),
            ("fatigue", L.P_FATIGUE, 0, L.MAX_STAT),
            ("IKZ token flag", L.P_TOKEN, 0, 1), ("leader ability used flag", L.P_LEADER_USED, 0, 1),
            ("mulligan flag", L.P_MULLIGANED, 0, 1), ("fallen flag", L.P_FELL, 0, 1))]
        checks += [(f"player {p} card id", b + cards, 0, ncards),
                   (f"player {p} board card id", b + board + L.B_CARD, 0, ncards),
                   (f"player {p} board weapon id", b + board + L.B_WEAPON, 0, ncards)]
        checks += [(f"player {p} board {name}", b + board + i, lo, hi) for name, i, lo, hi in (
            ("attack", L.B_ATK, 0, L.MAX_STAT), ("health", L.B_HP, 0, L.MAX_STAT),
            ("maximum health", L.B_MAXHP, 0, L.MAX_STAT), ("keyword bits", L.B_KW, 0, int(sum(Keyword))),
            ("ready flag", L.B_READY, 0, 1), ("arrived flag", L.B_SICK, 0, 1), ("moved flag", L.B_MOVED, 0, 1),
            ("ability used flag", L.B_USED, 0, 1))]
    return checks


def state_rows_problem(rows: np.ndarray, pool: CardPool, name_row: bool = True, hand_built: bool = False) -> str | None:
    """What the first of the state rows ``rows`` (int32[N, STATE_SIZE]) that no game of this
    engine can hold gets wrong, as a message naming the row (unless ``name_row`` is False, for
    one row), the field, the value and what is allowed; None if every row is sound. For rows
    from outside (bytes, checkpoints, demo files): the kernels trust their rows. A row is
    sound when every word is in its range (:func:`_row_checks`), its zones, board and health
    agree with each other and no player holds more cards than its decklist and IKZ list name
    (:func:`_structure_problems`), every place holds its kind of card (:func:`_type_problems`:
    a leader, IKZ cards, units, weapons, main-deck cards), its status words (over, winner, fallen leaders, mulligan
    player, pending attack) agree with its phase (:func:`_status_problems`), a pending choice is
    one its card has (:func:`_pending_problems`), and a game not over has a legal tuple
    (:func:`_stuck_problems`).

    ``hand_built=True`` runs only what keeps the kernels inside their arrays and the observation
    inside its bounds: every word in range, a pending choice's words those of its card, each
    leader, IKZ and board place holding its kind of card (:func:`_type_problems`), and no more
    IKZ tapped than the IKZ area holds. That is the rule for a :class:`GameState`'s
    row, which tools and tests set up by hand: a position no game reaches (cards from nowhere, a
    hand with a gap) plays on, as far as the rules read it; only a row the kernels would index
    out of bounds by, or write a row no check accepts from, is refused. (Zones cannot
    overflow: the engine's appends are bounded.)"""
    rows = np.asarray(rows).reshape(-1, STATE_SIZE)
    found = _first_kernel_problem(rows, pool) if hand_built else _first_problem(rows, pool)
    if found is None:
        return None
    r, problem = found
    return f"row {r}: {problem}" if name_row else problem


def _earliest(found) -> tuple[int, str] | None:
    """Of (row, message) pairs, one per check (its first bad row), the one of the lowest row; the
    first check's where several name that row."""
    best = None
    for r, problem in found:
        if best is None or r < best[0]:
            best = (int(r), problem)
    return best


def _first_problem(rows: np.ndarray, pool: CardPool) -> tuple[int, str] | None:
    in_range = _earliest(_range_problems(rows, pool))
    # the rows before the first with a word out of range can be read as a game's (card ids index
    # the card table): the first row that breaks any rule is either one of them or that one
    head = rows if in_range is None else rows[:in_range[0]]
    if len(head):
        found = _earliest(chain(_structure_problems(head, pool), _tapped_problems(head), _type_problems(head, pool),
                                _status_problems(head), _pending_problems(head, pool),
                                _pending_owner_problems(head, pool)))
        # the rows before the first that breaks one of those rules are sound enough to enumerate
        sound = head if found is None else head[:found[0]]
        if len(sound):
            found = _earliest(_stuck_problems(sound, pool)) or found
        if found is not None and (in_range is None or found[0] < in_range[0]):
            return found
    return in_range


def _first_kernel_problem(rows: np.ndarray, pool: CardPool) -> tuple[int, str] | None:
    in_range = _earliest(_range_problems(rows, pool))
    head = rows if in_range is None else rows[:in_range[0]]   # the later checks index by card ids
    if len(head):
        found = _earliest(chain(_pending_problems(head, pool), _type_problems(head, pool, full=False),
                                _tapped_problems(head)))
        if found is not None:
            return found
    return in_range


def _tapped_problems(rows: np.ndarray):
    """At most the IKZ area's cards are tapped (the untapped count, n - tapped, is shown in the
    observation as 0..10)."""
    from verification import layout as L
    for p in (0, 1):
        b = L.P0 + p * L.PLAYER_WORDS
        ikz, tapped = rows[:, b + L.P_IKZ_N], rows[:, b + L.P_IKZ_TAPPED]
        bad = np.flatnonzero(tapped > ikz)
        if len(bad):
            r = bad[0]
            yield r, f"player {p} has {tapped[r]} tapped IKZ but {ikz[r]} in the IKZ area"


def _type_problems(rows: np.ndarray, pool: CardPool, full: bool = True):
    """Each place holds the kind of card it can: a LEADER as the leader, IKZ cards in the IKZ
    area and IKZ deck, units (tokens too) on the board and weapons under them. The engine reads
    a card's abilities by where it is: a spell with a chosen target arriving from the IKZ deck
    resolved its effect with no target, on the player's own discard. With ``full``,
    also what a game's cards are: main-deck cards (units, weapons, spells; no token) in the
    deck, hand, discard and decklist, and IKZ cards in the IKZ list. Card id 0 (nothing) passes
    everywhere but the leader; the zone checks say where it may be."""
    from prefabs import CardType
    from prefabs import table as T
    from verification import layout as L
    from verification.spec import BOARD_SLOTS, HAND_MAX
    kind, token = pool.table[:, T.C_TYPE], pool.table[:, T.C_TOKEN]
    empty = np.arange(len(kind)) == 0
    leader, ikz = kind == CardType.LEADER, (kind == CardType.IKZ) | empty
    unit, weapon = (kind == CardType.UNIT) | empty, (kind == CardType.WEAPON) | empty
    main = (np.isin(kind, (CardType.UNIT, CardType.WEAPON, CardType.SPELL)) & (token == 0)) | empty
    board = np.arange(BOARD_SLOTS) * L.B_WIDTH + L.P_BOARD
    places = [("leader", np.array([L.P_LEADER]), leader, "a LEADER card"),
              ("IKZ area", np.arange(L.P_IKZ, L.P_IKZ + L.IKZ_DECK_SIZE), ikz, "IKZ cards"),
              ("IKZ deck", np.arange(L.P_IKZDECK, L.P_IKZDECK + L.IKZ_DECK_SIZE), ikz, "IKZ cards"),
              ("board", board + L.B_CARD, unit, "units"), ("board weapon", board + L.B_WEAPON, weapon, "weapons")]
    if full:
        places += [(name, np.arange(off, off + n), main, "units, weapons and spells (no token)")
                   for name, off, n in (("deck", L.P_DECK, L.DECK_SIZE), ("hand", L.P_HAND, HAND_MAX),
                                        ("discard", L.P_DISC, L.DISCARD_MAX), ("decklist", L.P_DECKLIST, L.DECK_SIZE))]
        places.append(("IKZ list", np.arange(L.P_IKZLIST, L.P_IKZLIST + L.IKZ_DECK_SIZE), ikz, "IKZ cards"))
    for p in (0, 1):
        b = L.P0 + p * L.PLAYER_WORDS
        for name, cols, ok, holds in places:
            ids = rows[:, b + cols]
            bad = np.argwhere(~ok[ids])
            if len(bad):
                r, i = bad[0]
                c = int(ids[r, i])
                what = "no card" if c == 0 else \
                    f"card id {c}, a {CardType(int(kind[c])).name}{' token' if token[c] else ''}"
                yield r, f"player {p} {name} (word {b + cols[i]}) holds {what}; it holds {holds} only"


def _stuck_problems(rows: np.ndarray, pool: CardPool):
    """A game not over has a decision with at least one legal tuple (the enumerator's count,
    from ``verification``). Every other check can pass on a row that never goes on: a target
    choice pending with nothing its rule can target (the engine asks only when something can
    be) lists no tuple and is not over."""
    from verification import layout as L
    from verification.legal import legal_counts
    live = np.flatnonzero(rows[:, L.G_DONE] == L.DONE_NO)
    counts = np.zeros(len(live), np.int64)
    legal_counts(np.ascontiguousarray(rows[live], dtype=np.int32), pool.table, counts)
    bad = live[counts == 0]
    if len(bad):
        r = bad[0]
        phase = rows[r, L.G_PHASE]
        if phase == L.PH_CHOOSE_TARGET:
            yield r, (f"a target choice is pending (card id {rows[r, L.G_PEND_CARD]}, target rule "
                      f"{rows[r, L.G_PEND_TGT]}) but nothing is a legal target for player {rows[r, L.G_PEND_PLAYER]}: "
                      f"the engine asks for a target only when one exists, and this game could never go on")
        else:
            yield r, f"the game is not over but its next decision (phase {phase}) has no legal tuple: it could never go on"


def _range_problems(rows: np.ndarray, pool: CardPool):
    for name, cols, lo, hi in _row_checks(len(pool)):
        vals = rows[:, cols]
        bad = np.argwhere((vals < lo) | (vals > hi))
        if len(bad):
            r, c = bad[0]
            yield r, f"{name} (word {cols[c]}) is {vals[r, c]}, outside {lo}..{hi}"


def _structure_problems(rows: np.ndarray, pool: CardPool):
    """Words each in range can still disagree with each other in a way no game does: a zone
    (IKZ area, IKZ deck, deck, hand, discard) holds a card at every position below its count
    and none past it; an empty board slot holds nothing else; a unit's health is 1..its maximum;
    at most the IKZ area's cards are tapped; a leader's health is at most its maximum, and 0
    exactly when it has fallen. A player's decklist and IKZ list (what a reset deals) name a card
    at every position, and it holds no more cards than they list: at most 30 in its deck, hand,
    discard, units (tokens aside) and weapons, at most 10 in its IKZ area and IKZ deck (the
    engine moves a card into the next position of a zone, so more would write past it). That
    they are the very cards listed (conservation) is ``selfcheck.check_invariants``'s to check:
    hand-built positions put cards in play from nowhere. Each check yields its first bad row."""
    from prefabs import table as T
    from verification import layout as L
    from verification.spec import BOARD_SLOTS, HAND_MAX
    fields = ("attack", "health", "maximum health", "keyword bits", "ready flag", "arrived flag", "moved flag",
              "ability used flag", "weapon id")   # B_ATK..B_WEAPON
    for p in (0, 1):
        b = L.P0 + p * L.PLAYER_WORDS
        for name, off, count, cap in (("IKZ area", L.P_IKZ, L.P_IKZ_N, L.IKZ_DECK_SIZE),
                                      ("IKZ deck", L.P_IKZDECK, L.P_IKZDECK_N, L.IKZ_DECK_SIZE),
                                      ("deck", L.P_DECK, L.P_DECK_N, L.DECK_SIZE), ("hand", L.P_HAND, L.P_HAND_N, HAND_MAX),
                                      ("discard", L.P_DISC, L.P_DISC_N, L.DISCARD_MAX)):
            ids = rows[:, b + off:b + off + cap]
            n = rows[:, b + count]
            below = np.arange(cap)[None, :] < n[:, None]
            bad = np.argwhere(below != (ids != 0))
            if len(bad):
                r, i = bad[0]
                what = "holds no card (id 0) below" if below[r, i] else f"holds card id {ids[r, i]} past"
                yield r, f"player {p} {name} position {i} (word {b + off + i}) {what} its count {n[r]}"
        for slot in range(BOARD_SLOTS):
            u = b + L.P_BOARD + slot * L.B_WIDTH
            unit = rows[:, u:u + L.B_WIDTH]
            bad = np.argwhere((unit[:, L.B_CARD] == 0)[:, None] & (unit[:, L.B_CARD + 1:] != 0))
            if len(bad):
                r, f = bad[0]
                yield r, (f"player {p} board slot {slot} is empty but its {fields[f]} (word {u + 1 + f}) is "
                          f"{unit[r, 1 + f]}")
            hp, maxhp = unit[:, L.B_HP], unit[:, L.B_MAXHP]
            bad = np.flatnonzero((unit[:, L.B_CARD] != 0) & ((hp < 1) | (hp > maxhp)))
            if len(bad):
                r = bad[0]
                yield r, f"player {p} board slot {slot} health {hp[r]} is outside 1..{maxhp[r]} (its maximum health)"
        hp, maxhp, fell = rows[:, b + L.P_HP], rows[:, b + L.P_MAXHP], rows[:, b + L.P_FELL]
        bad = np.flatnonzero(hp > maxhp)
        if len(bad):
            r = bad[0]
            yield r, f"player {p} leader health {hp[r]} is above its maximum health {maxhp[r]}"
        bad = np.flatnonzero((hp == 0) != (fell == 1))
        if len(bad):
            r = bad[0]
            yield r, f"player {p} leader health {hp[r]} disagrees with its fallen flag {fell[r]}"
        # no more cards than the player owns: the engine moves a card into the next position of a
        # zone (a discard, the IKZ area) trusting that it has room, which only the total bounds
        board = b + L.P_BOARD + np.arange(BOARD_SLOTS) * L.B_WIDTH
        units = rows[:, board + L.B_CARD]
        for what, listed, lo, size, held in (
                ("main-deck cards in its deck, hand, discard, units (tokens aside) and weapons", L.P_DECKLIST,
                 "decklist", L.DECK_SIZE,
                 rows[:, b + L.P_DECK_N] + rows[:, b + L.P_HAND_N] + rows[:, b + L.P_DISC_N]
                 + ((units != 0) & (pool.table[units, T.C_TOKEN] == 0)).sum(1) + (rows[:, board + L.B_WEAPON] != 0).sum(1)),
                ("IKZ cards in its IKZ area and IKZ deck", L.P_IKZLIST, "IKZ list", L.IKZ_DECK_SIZE,
                 rows[:, b + L.P_IKZ_N] + rows[:, b + L.P_IKZDECK_N])):
            owned = rows[:, b + listed:b + listed + size]
            bad = np.argwhere(owned == 0)
            if len(bad):
                r, i = bad[0]
                yield r, f"player {p} {lo} position {i} (word {b + listed + i}) holds no card (id 0)"
            bad = np.flatnonzero(held > size)
            if len(bad):
                r = bad[0]
                yield r, f"player {p} holds {held[r]} {what}, more than the {size} of its {lo}"


def _status_problems(rows: np.ndarray):
    """The game's status words agree with its phase as the engine keeps them: a game is over
    (done 1 or 2) exactly in the game-over phase, a winner is set exactly when it ended with
    one (done 1), it ended that way exactly when a leader fell and its winner is the player
    whose leader stands (2 if neither does), a mulligan phase names who decides it, and an
    attack is pending exactly in the block phase: by a unit of the active player, on the
    defender's leader or on a unit in its garden (on-attack abilities take no chosen target and
    no mode, so no other phase can hold one). Otherwise a game could have no legal tuple
    without being over, legal tuples after it ended, or a winner whose leader fell."""
    from verification import layout as L
    from verification.spec import BOARD_SLOTS, GARDEN_SLOTS
    phase, done, winner = rows[:, L.G_PHASE], rows[:, L.G_DONE], rows[:, L.G_WINNER]
    bad = np.flatnonzero((done != L.DONE_NO) != (phase == L.PH_OVER))
    if len(bad):
        r = bad[0]
        yield r, (f"done is {done[r]} but the phase is {phase[r]}: a game is over (done 1 or 2) exactly in the "
                  f"game-over phase ({L.PH_OVER})")
    bad = np.flatnonzero((done == L.DONE_TERMINAL) != (winner >= 0))
    if len(bad):
        r = bad[0]
        yield r, (f"winner is {winner[r]} with done {done[r]}: a game that ended (done 1) has a winner 0, 1 or 2 "
                  f"(a draw), any other has -1")
    fell0 = rows[:, L.P0 + L.P_FELL] == 1
    fell1 = rows[:, L.P0 + L.PLAYER_WORDS + L.P_FELL] == 1
    terminal = done == L.DONE_TERMINAL
    bad = np.flatnonzero(~terminal & (fell0 | fell1))
    if len(bad):
        r = bad[0]
        yield r, (f"player {0 if fell0[r] else 1}'s leader has fallen but done is {done[r]}: a game ends (done 1) "
                  f"when a leader falls")
    fallen_winner = np.where(fell0 & fell1, 2, np.where(fell0, 1, np.where(fell1, 0, -1)))
    bad = np.flatnonzero(terminal & (winner >= 0) & (winner != fallen_winner))
    if len(bad):
        r = bad[0]
        fallen = {2: "both leaders have fallen", 1: "player 0's leader has fallen", 0: "player 1's leader has fallen",
                  -1: "no leader has fallen"}[int(fallen_winner[r])]
        yield r, (f"the game ended with winner {winner[r]} but {fallen}: the winner is the player whose opponent's "
                  f"leader fell, 2 (a draw) when both fell, and a game ends (done 1) only when a leader falls")
    bad = np.flatnonzero((phase == L.PH_MULLIGAN) & (rows[:, L.G_MULL_PLAYER] < 0))
    if len(bad):
        yield bad[0], "the mulligan phase names no player to decide it (mulligan player -1)"
    src, tgt = rows[:, L.G_ATK_SRC], rows[:, L.G_ATK_TGT]
    block = phase == L.PH_BLOCK
    bad = np.flatnonzero(~block & ((src != -1) | (tgt != -1)))
    if len(bad):
        r = bad[0]
        yield r, (f"an attack is pending (attacker slot {src[r]}, attack target {tgt[r]}) outside the block phase "
                  f"({L.PH_BLOCK}); both must be -1 in phase {phase[r]}")
    n = np.arange(len(rows))
    active = rows[:, L.G_ACTIVE]

    def unit_at(p, slot):   # the card in player p's board slot (0 where slot is out of the board)
        ok = (slot >= 0) & (slot < BOARD_SLOTS)
        word = L.P0 + p * L.PLAYER_WORDS + L.P_BOARD + np.where(ok, slot, 0) * L.B_WIDTH + L.B_CARD
        return np.where(ok, rows[n, word], 0)
    bad = np.flatnonzero(block & (unit_at(active, src) == 0))
    if len(bad):
        r = bad[0]
        yield r, f"the block phase's attacker slot {src[r]} holds no unit of the active player {active[r]}"
    on_unit = (tgt >= 0) & (tgt < GARDEN_SLOTS) & (unit_at(1 - active, tgt) != 0)
    bad = np.flatnonzero(block & (tgt != L.ATK_TGT_LEADER) & ~on_unit)
    if len(bad):
        r = bad[0]
        yield r, (f"the block phase's attack target {tgt[r]} is neither the defender's leader ({L.ATK_TGT_LEADER}) "
                  f"nor a garden slot (0..{GARDEN_SLOTS - 1}) holding a unit of player {1 - active[r]}")


def _pending_problems(rows: np.ndarray, pool: CardPool):
    """A pending choice's words are not free values: the kernels resolve a pending target choice
    with the effect, arguments and target rule stored in the row (an argument can be a card id
    or a loop count), so they must be one of the pending card's abilities that asks for a
    target, as the engine stores them; a pending mode choice needs a card with modes."""
    from prefabs import table as T
    from prefabs.enums import TARGET_AUTO_MIN
    from verification import layout as L
    table = pool.table
    card = rows[:, L.G_PEND_CARD]
    pending = rows[:, [L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]]
    abilities = table[card, T.C_ABIL:T.C_ACT_COST].reshape(len(rows), -1, T.ABIL_WIDTH)   # [N, slots, 4]
    asks = (abilities[..., T.AB_TGT] >= 1) & (abilities[..., T.AB_TGT] < TARGET_AUTO_MIN)
    matches = ((abilities == pending[:, None, :]).all(-1) & asks).any(-1)
    bad = np.flatnonzero((rows[:, L.G_PHASE] == L.PH_CHOOSE_TARGET) & ~matches)
    if len(bad):
        r = bad[0]
        yield r, (f"the pending target choice (effect {pending[r, 0]}, arguments {pending[r, 1]} and "
                  f"{pending[r, 2]}, target rule {pending[r, 3]}) is not an ability of its pending card (id {card[r]}) "
                  f"that asks for a target")
    bad = np.flatnonzero((rows[:, L.G_PHASE] == L.PH_CHOOSE_MODE) & (table[card, T.C_NMODES] < 1))
    if len(bad):
        yield bad[0], f"a mode choice is pending for card id {card[bad[0]]}, which has no modes"


def _pending_owner_problems(rows: np.ndarray, pool: CardPool):
    """Only a card just played asks for a choice: a unit's on-play (a target or a mode) and a
    spell's modes (a spell takes its target when played; the loader allows chosen targets and
    MODE nowhere else). So a pending choice is the active player's, and its source slot is the
    slot of the unit just played (holding that card), or -1 for a spell. The kernels read any of
    these safely; a row that breaks them is one no game reaches (the choice would go to the
    other player, or SELF would name another unit)."""
    from prefabs import table as T
    from prefabs.enums import CardType
    from verification import layout as L
    phase = rows[:, L.G_PHASE]
    choosing = np.flatnonzero((phase == L.PH_CHOOSE_TARGET) | (phase == L.PH_CHOOSE_MODE))
    if not len(choosing):
        return
    r = rows[choosing]
    player, active, card, slot = (r[:, w] for w in (L.G_PEND_PLAYER, L.G_ACTIVE, L.G_PEND_CARD, L.G_PEND_SLOT))
    kind, target = pool.table[card, T.C_TYPE], r[:, L.G_PHASE] == L.PH_CHOOSE_TARGET
    bad = np.flatnonzero(player != active)
    if len(bad):
        yield choosing[bad[0]], (f"a pending choice belongs to player {player[bad[0]]}, but player {active[bad[0]]} is "
                                 f"active (only the card the active player just played asks for a choice)")
    bad = np.flatnonzero((kind != CardType.UNIT) & (target | (kind != CardType.SPELL)))
    if len(bad):
        k = bad[0]
        yield choosing[k], (f"a {'target' if target[k] else 'mode'} choice is pending for card id {card[k]}, a "
                            f"{CardType(int(kind[k])).name}; only a "
                            f"unit's on-play asks for a target, and only a unit's on-play or a spell for a mode")
    bad = np.flatnonzero((kind == CardType.SPELL) & (slot != -1))
    if len(bad):
        yield choosing[bad[0]], f"a spell's pending choice has source slot {slot[bad[0]]}; a spell has none (-1)"
    words = L.P0 + active * L.PLAYER_WORDS + L.P_BOARD + np.maximum(slot, 0) * L.B_WIDTH + L.B_CARD
    there = r[np.arange(len(r)), words]
    bad = np.flatnonzero((kind == CardType.UNIT) & ((slot < 0) | (there != card)))
    if len(bad):
        k = bad[0]
        yield choosing[k], (f"a unit's pending choice must come from the unit just played: its source slot "
                            f"{slot[k]} holds {f'card id {there[k]}' if slot[k] >= 0 else 'nothing'}, not the "
                            f"pending card (id {card[k]})")


def pool_digest(pool: CardPool) -> bytes:
    """The compiled card table's digest as bytes (:func:`prefabs.card_table_digest` in hex)."""
    return bytes.fromhex(card_table_digest(pool))


def resolve_deck(deck: str | Deck | None, pool: CardPool) -> np.ndarray:
    """A deck given by name (or a :class:`Deck`) as the engine's int32[41] row. A name is any
    case or a unique part of a prebuilt deck's (:func:`prefabs.find_deck`); None is the first."""
    decks = default_decks()
    if deck is None:
        deck = next(iter(decks))
    if not isinstance(deck, Deck):
        deck = decks[find_deck(deck, decks)]   # DeckError naming the prebuilt decks
    return deck_ids(deck, pool)


def pool_or_default(pool) -> CardPool:
    """``pool``, or the shipped pool for None; anything else raises ``TypeError``."""
    if pool is None:
        return default_pool()
    if not isinstance(pool, CardPool):
        raise TypeError(f"pool must be a CardPool (prefabs.load_pool) or None for the shipped pool, got "
                        f"{type(pool).__name__}")
    return pool


def prebuilt_deck_rows(pool: CardPool, how: str) -> list[np.ndarray]:
    """Every prebuilt deck as a row of ``pool``: what an env draws from when it is given no deck.
    A custom pool that lacks their cards raises :class:`DeckError` naming the deck and the card,
    and ``how`` (how to give that env decks of the pool's own cards instead)."""
    rows = []
    for name, deck in default_decks().items():
        try:
            rows.append(deck_ids(deck, pool))
        except DeckError as e:
            raise DeckError(f"a seat given no deck draws a prebuilt one, but the prebuilt deck {name!r} does not "
                            f"fit this card pool ({e}); {how}") from None
    return rows


SEED_LIMIT = 2 ** 64


def is_integer(v) -> bool:
    """A Python or numpy integer, not a bool: what every count, index and seed argument takes
    (1.7, True or "1" is refused, never rounded or parsed)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def shown(value, width: int = 40) -> str:
    """``repr(value)`` cut to ``width`` characters: an error quotes a bad field, never all of it
    (a file's field may hold a megabyte)."""
    r = repr(value)
    return r if len(r) <= width else r[:width - 3] + "..."


def check_seed(seed, what: str = "seed") -> int:
    """``seed`` as an int in 0..2**64-1 (:func:`is_integer` only; ValueError otherwise)."""
    if not is_integer(seed):
        raise ValueError(f"{what} must be an integer in 0..2**64-1, got {seed!r}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"{what} must be in 0..2**64-1, got {seed}")
    return int(seed)


class GameState:
    """A single game. Create with :meth:`new`; act with :meth:`apply` (checked).

    ``row`` is the game's ``int32[STATE_SIZE]`` row, writable so that tools and tests can set up
    positions by hand. The kernels index by its words, so a row written from outside (or handed
    to the constructor) is checked before the next kernel reads it (legal tuples, explanations,
    observations, moves):

    - a row :func:`state_rows_problem` accepts is checked once: it and every row the engine
      writes from it are sound (a comparison with the last checked row, under 1 us, finds no edit);
    - a position no game reaches (cards from nowhere, a gap in a hand) plays on as far as the
      rules read it, checked before each kernel call with ``state_rows_problem(hand_built=True)``;
    - a word the kernels would read or write out of bounds by raises :class:`StateFormatError`
      and changes nothing.

    :meth:`from_bytes` refuses a saved row ``state_rows_problem`` does not accept."""

    def __init__(self, row: np.ndarray, pool: CardPool | None = None):
        self.pool = pool_or_default(pool)
        self.row = row
        self._legal = np.zeros((MAX_LEGAL, 4), dtype=np.int8)
        self._legal_n = -1

    @property
    def row(self) -> np.ndarray:
        return self._row

    @row.setter
    def row(self, row) -> None:
        row = np.asarray(row)
        if row.dtype != np.int32 or row.shape != (STATE_SIZE,):
            raise StateFormatError(f"a state row is int32[{STATE_SIZE}], got {row.dtype}{list(row.shape)}")
        self._row = row
        # the row's bytes when last found sound (or written from a sound row), with its pool: a bytes
        # comparison finds an edit in ~0.4 us (np.array_equal takes ~5 us)
        self._sound = None

    def _is_sound(self) -> bool:
        sound = self._sound
        return sound is not None and sound[1] is self.pool and sound[0] == self._row.tobytes()

    def checked_row(self) -> np.ndarray:
        """The row, known to be one the kernels can read (see the class docstring)."""
        if not self._is_sound():
            if state_rows_problem(self._row, self.pool, name_row=False) is None:
                self._trust()   # as sound as a game's: the engine keeps it so, move after move
            else:   # hand-built beyond what a game reaches: checked again before every kernel call
                self._sound = None
                problem = state_rows_problem(self._row, self.pool, name_row=False, hand_built=True)
                if problem:
                    raise StateFormatError(f"not a state this engine can hold: {problem}")
        return self._row

    def _trust(self) -> None:
        """Record the row as sound: it was just checked, or the engine wrote it from a sound one."""
        self._sound = (self._row.tobytes(), self.pool)

    @classmethod
    def _of_sound_row(cls, row: np.ndarray, pool: CardPool | None = None) -> "GameState":
        """A game over a row the engine wrote (a reset, an env's own game, a copy of a checked
        row): it is not checked again until written from outside."""
        g = cls(row, pool)
        g._trust()
        return g

    # -- construction
    @classmethod
    def new(cls, deck0: str | Deck | None = None, deck1: str | Deck | None = None, seed: int = 0,
            pool: CardPool | None = None) -> "GameState":
        pool = pool_or_default(pool)
        seed = check_seed(seed)
        row = np.zeros(STATE_SIZE, dtype=np.int32)
        engine.reset_game(row, pool.table, resolve_deck(deck0, pool), resolve_deck(deck1, pool), np.uint64(seed))
        return cls._of_sound_row(row, pool)

    def clone(self) -> "GameState":
        """A cheap independent copy (one row copy; a row not checked since it was written from
        outside stays unchecked in the copy)."""
        g = GameState(self._row.copy(), self.pool)
        if self._is_sound():
            g._trust()
        return g

    def __eq__(self, other) -> bool:
        return isinstance(other, GameState) and np.array_equal(self.row, other.row)

    def to_bytes(self) -> bytes:
        return _HEADER.pack(_MAGIC, STATE_LAYOUT_VERSION, ACTION_SPEC_VERSION, CARD_TABLE_VERSION, 0,
                            pool_digest(self.pool)) + self.row.astype("<i4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes, pool: CardPool | None = None) -> "GameState":
        pool = pool_or_default(pool)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StateFormatError(f"a saved state is bytes (GameState.to_bytes()), got {type(data).__name__}")
        if len(data) != _HEADER.size + 4 * STATE_SIZE:
            raise StateFormatError(f"expected {_HEADER.size + 4 * STATE_SIZE} bytes, got {len(data)}")
        magic, lay, spec, tab, _, digest = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise StateFormatError("not a TCG state (bad magic)")
        if (lay, spec, tab) != (STATE_LAYOUT_VERSION, ACTION_SPEC_VERSION, CARD_TABLE_VERSION):
            raise StateFormatError(f"state versions (layout {lay}, action spec {spec}, card table {tab}) do not match "
                                   f"this engine ({STATE_LAYOUT_VERSION}, {ACTION_SPEC_VERSION}, {CARD_TABLE_VERSION})")
        if digest != pool_digest(pool):
            raise StateFormatError("the state was saved with a different card pool")
        row = np.frombuffer(data, dtype="<i4", offset=_HEADER.size).astype(np.int32)
        problem = state_rows_problem(row, pool, name_row=False)
        if problem:
            raise StateFormatError(f"not a state this engine can hold: {problem}")
        return cls._of_sound_row(row, pool)

    # -- queries
    @property
    def current_player(self) -> int:
        """The player to decide next (-1 when the game is over)."""
        return int(actor(self._row))

    @property
    def done(self) -> bool:
        return int(self._row[G_DONE]) != DONE_NO

    @property
    def terminated(self) -> bool:
        return int(self._row[G_DONE]) == DONE_TERMINAL

    @property
    def truncated(self) -> bool:
        return int(self._row[G_DONE]) == DONE_TRUNCATED

    @property
    def winner(self) -> int | None:
        """0 or 1, 2 for a draw, None while running or after truncation."""
        w = int(self._row[G_WINNER])
        return None if w < 0 else w

    @property
    def phase(self) -> int:
        return int(self._row[G_PHASE])

    @property
    def turn(self) -> int:
        return int(self._row[G_TURN])

    @property
    def decisions(self) -> int:
        return int(self._row[G_DECISIONS])

    def legal_tuples(self) -> np.ndarray:
        """The legal tuples (``int8[n, 4]``, canonical order). Empty when the game is over."""
        n = enumerate_legal(self.checked_row(), self.pool.table, self._legal)
        if n < 0:
            raise LegalCapacityError(f"legal list overflowed its capacity {MAX_LEGAL}")
        return self._legal[:n].copy()

    def explain(self, action) -> str | None:
        """None if ``action`` is legal, else the first rule it breaks, in words
        (:func:`verification.explain.explain`)."""
        return X.explain(self.checked_row(), action, self.pool)

    def observation(self, player: int | None = None) -> np.ndarray:
        """``int8[OBS_SIZE]`` from ``player``'s view (default: the player to act)."""
        if player is None:
            p = self.current_player
        elif not is_integer(player) or player not in (0, 1):
            raise ValueError(f"player must be a seat, 0 or 1; got {player!r}")
        else:
            p = int(player)
        out = np.zeros(OBS_SIZE, dtype=np.int8)
        write_obs(self.checked_row(), self.pool.table, max(p, 0), out)
        return out

    # -- acting
    def apply(self, action) -> "GameState":
        """Checked apply: raises :class:`ActionOutOfRangeError` or :class:`IllegalActionError`
        (with ``explain``'s reason) and leaves the state unchanged; otherwise applies in place."""
        a = X.check_range(action)
        why = X.explain_checked(self.checked_row(), a, self.pool)
        if why is not None:
            raise IllegalActionError(a, why)
        engine.apply_action(self._row, self.pool.table, *a)
        self._moved()
        return self

    def apply_unchecked(self, action) -> "GameState":
        """Apply without checking the action (the caller guarantees legality); the row is checked
        as everywhere (see the class docstring)."""
        engine.apply_action(self.checked_row(), self.pool.table, *(int(x) for x in action))
        self._moved()
        return self

    def _moved(self) -> None:
        if self._sound is not None:   # checked_row just found it sound: so is the engine's next row
            self._trust()

    def render(self) -> str:
        from .render import render_state
        return render_state(self)

    def __repr__(self) -> str:
        return f"GameState(turn={self.turn}, phase={self.phase}, actor={self.current_player}, done={self.done})"


__all__ = ["GameState", "StateFormatError", "IllegalActionError", "ActionOutOfRangeError", "check_seed", "is_integer", "resolve_deck",
           "state_rows_problem"]
