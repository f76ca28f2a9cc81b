"""Plain-text views of a game: the whole state, and one action tuple in words.

Pure presentation over ``state.row`` (and the card pool's names and text). Nothing
here decides legality: :func:`describe_action` describes whatever tuple it is given,
legal or not, and never raises on odd values. No torch, no numba calls.

    >>> print(render_state(state))               # omniscient debug view
    >>> print(render_state(state, perspective=0)) # what player 0 may see
    >>> describe_action(state, (2, 22, 1, 0))
    'Play Ember Whelp (1 IKZ) to garden slot 1'
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from prefabs.enums import Effect, Target, Trigger
from prefabs.loader import Ability
from prefabs.text import ability_text, keyword_names
from verification.layout import (ATK_TGT_LEADER, B_ATK, B_CARD, B_HP, B_KW, B_MAXHP, B_MOVED, B_READY, B_SICK,
                                 B_USED, B_WEAPON, B_WIDTH, DONE_NO, DONE_TRUNCATED, G_ACTIVE,
                                 G_ATK_SRC, G_ATK_TGT, G_DECISIONS, G_DONE, G_FIRST, G_MULL_PLAYER, G_PEND_A1,
                                 G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_PLAYER, G_PEND_SLOT, G_PEND_TGT,
                                 G_PHASE, G_TURN, G_WINNER, P0, P_BOARD, P_DECK, P_DECK_N, P_DISC, P_DISC_N,
                                 P_FATIGUE, P_HAND, P_HAND_N, P_HP, P_IKZ, P_IKZ_N, P_IKZ_TAPPED, P_IKZDECK,
                                 P_IKZDECK_N, P_LEADER, P_LEADER_USED, P_MAXHP, P_MULLIGANED, P_TOKEN, PH_BLOCK,
                                 PH_CHOOSE_MODE, PH_CHOOSE_TARGET, PH_MAIN, PH_MULLIGAN, PH_OVER, PLAYER_WORDS,
                                 DECISION_CAP, TURN_CAP)
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_MY_LEADER, ENT_OPP_BOARD,
                               ENT_OPP_LEADER, GARDEN_SLOTS, HAND_MAX, MULLIGAN_HAND, NUM_ENTITIES, Primary)

if TYPE_CHECKING:  # pragma: no cover
    from .state import GameState

PHASE_NAMES = {
    PH_MULLIGAN: "mulligan",
    PH_MAIN: "main",
    PH_BLOCK: "block window",
    PH_CHOOSE_TARGET: "choose target",
    PH_CHOOSE_MODE: "choose mode",
    PH_OVER: "over",
}

ARROW = "→"


# ----------------------------------------------------------------------------- row access (pure Python)
def _pbase(p: int) -> int:
    return P0 + p * PLAYER_WORDS


def _sbase(p: int, slot: int) -> int:
    return P0 + p * PLAYER_WORDS + P_BOARD + slot * B_WIDTH


def _w(row, i: int) -> int:
    return int(row[i])


def _actor(row) -> int:
    """The player who makes the next decision, or -1 when the game is over (mirrors rules.actor)."""
    ph = _w(row, G_PHASE)
    if ph == PH_MULLIGAN:
        return _w(row, G_MULL_PLAYER)
    if ph == PH_MAIN:
        return _w(row, G_ACTIVE)
    if ph == PH_BLOCK:
        return 1 - _w(row, G_ACTIVE)
    if ph in (PH_CHOOSE_TARGET, PH_CHOOSE_MODE):
        return _w(row, G_PEND_PLAYER)
    return -1


class _View:
    """Names and numbers read off one state row."""

    def __init__(self, state: "GameState"):
        self.row = state.row
        self.pool = state.pool

    # cards
    def card(self, cid: int):
        if 1 <= cid <= len(self.pool):
            return self.pool[cid]
        return None

    def name(self, cid: int) -> str:
        c = self.card(cid)
        if c is not None:
            return c.name
        return "(none)" if cid == 0 else f"<card {cid}>"

    def cost(self, cid: int) -> int:
        c = self.card(cid)
        return c.cost if c is not None else 0

    # players
    def pw(self, p: int, field: int) -> int:
        return _w(self.row, _pbase(p) + field)

    def hand(self, p: int) -> list[int]:
        n = max(0, min(self.pw(p, P_HAND_N), HAND_MAX))
        return [self.pw(p, P_HAND + i) for i in range(n)]

    def pile(self, p: int, start: int, count_field: int, cap: int) -> list[int]:
        n = max(0, min(self.pw(p, count_field), cap))
        return [self.pw(p, start + i) for i in range(n)]

    # units
    def uw(self, p: int, slot: int, field: int) -> int:
        return _w(self.row, _sbase(p, slot) + field)

    def unit_card(self, p: int, slot: int) -> int:
        if not (0 <= p <= 1 and 0 <= slot < BOARD_SLOTS):
            return 0
        return self.uw(p, slot, B_CARD)

    def unit_attack(self, p: int, slot: int) -> int:
        w = self.card(self.uw(p, slot, B_WEAPON))
        return self.uw(p, slot, B_ATK) + (w.attack if w is not None else 0)

    def unit_keywords(self, p: int, slot: int) -> int:
        # B_KW already holds the keywords of every weapon attached (granted at attach time)
        return self.uw(p, slot, B_KW)

    def unit_stats(self, p: int, slot: int) -> str:
        return f"{self.unit_attack(p, slot)}/{self.uw(p, slot, B_HP)}"

    def unit_label(self, p: int, slot: int) -> str:
        """'Ember Drake (3/2)' or a slot name when empty."""
        cid = self.unit_card(p, slot)
        if cid == 0:
            return f"{slot_name(slot)} (empty)"
        return f"{self.name(cid)} ({self.unit_stats(p, slot)})"

    def leader_name(self, p: int) -> str:
        return self.name(self.pw(p, P_LEADER))


def slot_name(slot: int) -> str:
    """Board slot 0-9 as 'garden slot N' / 'alley slot N'."""
    if 0 <= slot < GARDEN_SLOTS:
        return f"garden slot {slot}"
    if GARDEN_SLOTS <= slot < BOARD_SLOTS:
        return f"alley slot {slot - GARDEN_SLOTS}"
    return f"board slot {slot}"


def _join_and(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _player_label(p: int, perspective: int | None) -> str:
    if perspective is None or p not in (0, 1):
        return f"P{p}"
    return f"P{p} (you)" if p == perspective else f"P{p} (opponent)"


def _pending_ability(v: _View) -> Ability | None:
    """The pending targeted effect as an :class:`Ability` (for its text), if it decodes."""
    try:
        return Ability(Effect(_w(v.row, G_PEND_EFF)), _w(v.row, G_PEND_A1), _w(v.row, G_PEND_A2),
                       Target(_w(v.row, G_PEND_TGT)))
    except ValueError:
        return None


# ----------------------------------------------------------------------------- render_state
def unit_status(row, p: int, slot: int, new_word: str = "arrived this turn") -> list[str]:
    """A unit's status words (ready/exhausted, arrived, moved, ability used), shared with tcg play."""
    u = _sbase(p, slot)
    status = ["ready" if row[u + B_READY] else "exhausted"]
    if row[u + B_SICK]:
        status.append(new_word)
    if row[u + B_MOVED]:
        status.append("moved")
    if row[u + B_USED]:
        status.append("ability used")
    return status


def _unit_line(v: _View, p: int, slot: int) -> str:
    cid = v.uw(p, slot, B_CARD)
    hp, maxhp = v.uw(p, slot, B_HP), v.uw(p, slot, B_MAXHP)
    stats = f"{v.unit_attack(p, slot)}/{hp}"
    if hp < maxhp:
        stats += f" (max {maxhp})"
    parts = [f"[{slot % GARDEN_SLOTS}] {v.name(cid)} {stats}"]
    kws = keyword_names(v.unit_keywords(p, slot))
    if kws:
        parts.append(" ".join(kws))
    parts.append(", ".join(unit_status(v.row, p, slot)))
    w = v.uw(p, slot, B_WEAPON)
    if w:
        wc = v.card(w)
        bonus = f" (+{wc.attack})" if wc is not None and wc.attack else ""
        parts.append(f"weapon: {v.name(w)}{bonus}")
    return "    " + " · ".join(parts)


def _names(v: _View, ids: Sequence[int]) -> str:
    return ", ".join(v.name(c) for c in ids) if ids else "-"


def _player_block(v: _View, p: int, perspective: int | None, phase: int) -> list[str]:
    hidden = perspective is not None and perspective != p
    lines = []
    leader = v.leader_name(p)
    head = f"--- {_player_label(p, perspective)}: {leader} · HP {v.pw(p, P_HP)}/{v.pw(p, P_MAXHP)}"
    head += f" · fatigue {v.pw(p, P_FATIGUE)}"
    if v.pw(p, P_LEADER_USED):
        head += " · leader ability used"
    if phase == PH_MULLIGAN:
        head += " · mulligan " + ("done" if v.pw(p, P_MULLIGANED) else "pending")
    lines.append(head + " ---")

    ikz_n, tapped = v.pw(p, P_IKZ_N), v.pw(p, P_IKZ_TAPPED)
    ikz_cards = v.pile(p, P_IKZ, P_IKZ_N, 10)
    ikz = f"  IKZ {ikz_n - tapped}/{ikz_n} untapped"
    if ikz_cards:
        ikz += f" ({_names(v, ikz_cards)})"
    ikz += f" · IKZ deck {v.pw(p, P_IKZDECK_N)}"
    ikz += " · IKZ token " + ("available" if v.pw(p, P_TOKEN) else "spent")
    lines.append(ikz)

    hand = v.hand(p)
    if hidden:
        lines.append(f"  Hand: {len(hand)} card{'s' if len(hand) != 1 else ''} (hidden)")
    else:
        cards = ", ".join(f"{v.name(c)} ({v.cost(c)})" for c in hand) if hand else "-"
        lines.append(f"  Hand ({len(hand)}): {cards}")

    deck_n = v.pw(p, P_DECK_N)
    disc = v.pile(p, P_DISC, P_DISC_N, 30)
    if perspective is None:
        deck = list(reversed(v.pile(p, P_DECK, P_DECK_N, 30)))
        ikzdeck = list(reversed(v.pile(p, P_IKZDECK, P_IKZDECK_N, 10)))
        lines.append(f"  Deck ({deck_n}, top first): {_names(v, deck)}")
        lines.append(f"  IKZ deck (top first): {_names(v, ikzdeck)}")
    else:
        lines.append(f"  Deck: {deck_n} card{'s' if deck_n != 1 else ''}")
    lines.append(f"  Discard ({v.pw(p, P_DISC_N)}): {_names(v, disc)}")

    for row_name, slots in (("Garden", range(GARDEN_SLOTS)), ("Alley", range(GARDEN_SLOTS, BOARD_SLOTS))):
        occupied = [s for s in slots if v.uw(p, s, B_CARD) != 0]
        lines.append(f"  {row_name}:" + ("" if occupied else " (empty)"))
        lines.extend(_unit_line(v, p, s) for s in occupied)
    return lines


def truncation_cap(row) -> str:
    """The cap that ended a truncated game: ``"decision cap"`` once its decisions reached
    ``DECISION_CAP`` (RULES.md §11), else ``"turn cap"``."""
    return "decision cap" if _w(row, G_DECISIONS) >= DECISION_CAP else "turn cap"


def _result_line(v: _View) -> str:
    done, winner = _w(v.row, G_DONE), _w(v.row, G_WINNER)
    if done == DONE_TRUNCATED:
        cap = truncation_cap(v.row)
        limit = f"{DECISION_CAP:,} decisions" if cap == "decision cap" else f"{TURN_CAP} turns"
        return f"Result: truncated ({cap} of {limit} reached, no winner)"
    if winner == 2:
        return "Result: draw"
    if winner in (0, 1):
        return f"Result: P{winner} wins ({v.leader_name(winner)})"
    return f"Result: over (G_DONE={done}, winner={winner})"


def _pending_attack_line(v: _View, perspective: int | None) -> str | None:
    src, tgt = _w(v.row, G_ATK_SRC), _w(v.row, G_ATK_TGT)
    p = _w(v.row, G_ACTIVE)
    if not (0 <= src < BOARD_SLOTS) or p not in (0, 1):
        return None
    q = 1 - p
    att = f"{_player_label(p, perspective)}'s {v.unit_label(p, src)}"
    if tgt == ATK_TGT_LEADER:
        target = f"{_player_label(q, perspective)}'s leader {v.leader_name(q)} (HP {v.pw(q, P_HP)})"
    elif 0 <= tgt < BOARD_SLOTS:
        target = f"{_player_label(q, perspective)}'s {v.unit_label(q, tgt)}"
    else:
        target = f"<target {tgt}>"
    return f"Pending attack: {att} {ARROW} {target}; {_player_label(q, perspective)} may block"


def _pending_choice_line(v: _View, phase: int, perspective: int | None) -> str:
    pp = _w(v.row, G_PEND_PLAYER)
    cid = _w(v.row, G_PEND_CARD)
    src = _w(v.row, G_PEND_SLOT)
    who = _player_label(pp, perspective)
    from_unit = f" (from {slot_name(src)})" if 0 <= src < BOARD_SLOTS else ""
    if phase == PH_CHOOSE_TARGET:
        ab = _pending_ability(v)
        what = f": {ability_text(ab, v.pool)}" if ab is not None else ""
        return f"Pending choice: {who} chooses a target for {v.name(cid)}{from_unit}{what}"
    card = v.card(cid)
    line = f"Pending choice: {who} chooses a mode of {v.name(cid)}{from_unit}"
    if card is not None and card.modes:
        line += ": " + "; ".join(f"{m}) {ability_text(ab, v.pool)}" for m, ab in enumerate(card.modes))
    return line


def render_state(state: "GameState", perspective: int | None = None) -> str:
    """The full state as plain text.

    ``perspective=None`` is an omniscient debug view (both hands, deck and IKZ deck
    order). ``perspective=p`` shows what player ``p`` may see: the opponent's hand
    only as a count, and no deck contents for either player.
    """
    if perspective is not None:
        perspective = int(perspective)
        if perspective not in (0, 1):
            raise ValueError(f"perspective must be None, 0 or 1, got {perspective}")
    v = _View(state)
    row = v.row
    phase = _w(row, G_PHASE)
    act = _actor(row)
    view = "omniscient view" if perspective is None else f"P{perspective}'s view"
    lines = [f"=== Ikazuchi Duel · turn {_w(row, G_TURN)} · {PHASE_NAMES.get(phase, f'phase {phase}')} phase"
             f" · {view} ===",
             f"Active player: {_player_label(_w(row, G_ACTIVE), perspective)} · first player: P{_w(row, G_FIRST)}"
             f" · decision: {_player_label(act, perspective) if act >= 0 else 'none'}"
             f" · decisions taken: {_w(row, G_DECISIONS)}"]
    if phase == PH_OVER or _w(row, G_DONE) != DONE_NO:
        lines.append(_result_line(v))
    if phase == PH_BLOCK:
        line = _pending_attack_line(v, perspective)
        if line:
            lines.append(line)
    if phase in (PH_CHOOSE_TARGET, PH_CHOOSE_MODE):
        lines.append(_pending_choice_line(v, phase, perspective))
    order = (0, 1) if perspective is None else (perspective, 1 - perspective)
    for p in order:
        lines.append("")
        lines.extend(_player_block(v, p, perspective, phase))
    return "\n".join(lines)


# ----------------------------------------------------------------------------- describe_action
def _entity(v: _View, p: int, e: int) -> str:
    """An entity pointer from player p's view, with names and stats."""
    if e == ENT_MY_LEADER:
        return "your leader"
    if e == ENT_OPP_LEADER:
        return "enemy leader"
    if ENT_MY_BOARD <= e < ENT_OPP_BOARD:
        slot = e - ENT_MY_BOARD
        cid = v.unit_card(p, slot)
        return f"your {v.unit_label(p, slot)}" if cid else f"your {slot_name(slot)} (empty)"
    if ENT_OPP_BOARD <= e < ENT_MY_HAND:
        slot = e - ENT_OPP_BOARD
        cid = v.unit_card(1 - p, slot)
        return f"enemy {v.unit_label(1 - p, slot)}" if cid else f"enemy {slot_name(slot)} (empty)"
    if ENT_MY_HAND <= e < NUM_ENTITIES:
        pos = e - ENT_MY_HAND
        hand = v.hand(p)
        return f"hand card {pos} ({v.name(hand[pos])})" if pos < len(hand) else f"hand card {pos} (empty)"
    return f"<entity {e}>"


def _hand_card(v: _View, p: int, e: int) -> int:
    pos = e - ENT_MY_HAND
    hand = v.hand(p)
    return hand[pos] if 0 <= pos < len(hand) else 0


def _hand_name(v: _View, p: int, e: int) -> str:
    cid = _hand_card(v, p, e)
    if cid:
        return v.name(cid)
    return f"<{_entity(v, p, e)}>"


def _my_unit_name(v: _View, p: int, e: int) -> str:
    slot = e - ENT_MY_BOARD
    cid = v.unit_card(p, slot) if 0 <= slot < BOARD_SLOTS else 0
    if cid:
        return v.name(cid)
    return f"<{_entity(v, p, e)}>"


def _takes_chosen_target(ability: Ability | None) -> bool:
    return ability is not None and 1 <= int(ability.target) < 10


def _with_target(v: _View, p: int, head: str, ability: Ability | None, target: int) -> str:
    """``head → target`` when the ability takes a chosen target (or a nonzero target was given)."""
    if _takes_chosen_target(ability) or target != 0:
        return f"{head} {ARROW} {_entity(v, p, target)}"
    return head


def describe_action(state: "GameState", action) -> str:
    """The action tuple ``(primary, sub1, sub2, sub3)`` in words, from the acting player's view.

    Describes only; it never checks legality and does not raise on out-of-range values.
    """
    try:
        a0, a1, a2, a3 = (int(x) for x in action)
    except (TypeError, ValueError):
        return f"<not an action tuple: {action!r}>"
    v = _View(state)
    p = _actor(v.row)
    if p not in (0, 1):
        p = _w(v.row, G_ACTIVE) if _w(v.row, G_ACTIVE) in (0, 1) else 0
    try:
        prim = Primary(a0)
    except ValueError:
        return f"<unknown primary {a0}: ({a0}, {a1}, {a2}, {a3})>"

    if prim == Primary.END_TURN:
        text = "End turn"
    elif prim == Primary.MULLIGAN:
        positions = [i for i in range(max(MULLIGAN_HAND, a1.bit_length())) if (a1 >> i) & 1] if a1 > 0 else []
        if not positions:
            text = "Keep opening hand"
        else:
            hand = v.hand(p)
            names = [v.name(hand[i]) if i < len(hand) else "empty" for i in positions]
            word = "position" if len(positions) == 1 else "positions"
            text = f"Mulligan hand {word} {_join_and([str(i) for i in positions])} ({', '.join(names)})"
    elif prim == Primary.PLAY_UNIT:
        cid = _hand_card(v, p, a1)
        text = f"Play {_hand_name(v, p, a1)} ({v.cost(cid)} IKZ) to {slot_name(a2)}"
    elif prim == Primary.PLAY_SPELL:
        card = v.card(_hand_card(v, p, a1))
        ab = card.abilities.get(Trigger.PLAY) if card is not None else None
        text = _with_target(v, p, f"Play {_hand_name(v, p, a1)}", ab, a2)
    elif prim == Primary.ATTACH_WEAPON:
        text = f"Equip {_hand_name(v, p, a1)} to {_my_unit_name(v, p, a2)}"
    elif prim == Primary.ATTACK:
        slot = a1 - ENT_MY_BOARD
        att = v.unit_label(p, slot) if 0 <= slot < BOARD_SLOTS and v.unit_card(p, slot) else f"<{_entity(v, p, a1)}>"
        text = f"Attack with {att} {ARROW} {_entity(v, p, a2)}"
    elif prim == Primary.BLOCK:
        text = f"Block with {_my_unit_name(v, p, a1)}"
    elif prim == Primary.NO_BLOCK:
        text = "Don't block"
    elif prim == Primary.ACTIVATE:
        slot = a1 - ENT_MY_BOARD
        card = v.card(v.unit_card(p, slot)) if 0 <= slot < BOARD_SLOTS else None
        ab = card.abilities.get(Trigger.ACTIVATED) if card is not None else None
        text = _with_target(v, p, f"Activate {_my_unit_name(v, p, a1)}", ab, a2)
    elif prim == Primary.LEADER_ABILITY:
        card = v.card(v.pw(p, P_LEADER))
        ab = card.abilities.get(Trigger.ACTIVATED) if card is not None else None
        text = _with_target(v, p, "Leader ability", ab, a2)
    elif prim == Primary.MOVE:
        text = f"Move {_my_unit_name(v, p, a1)} to {slot_name(a2)}"
    elif prim == Primary.CHOOSE_TARGET:
        text = f"Choose target: {_entity(v, p, a2)}"
        pend = _w(v.row, G_PEND_CARD)
        if pend:
            text += f" (for {v.name(pend)})"
    else:  # CHOOSE_MODE
        card = v.card(_w(v.row, G_PEND_CARD))
        if card is not None and 0 <= a2 < len(card.modes):
            text = f"Choose mode {a2}: {ability_text(card.modes[a2], v.pool)}"
        else:
            text = f"Choose mode {a2}"
    if a3 == 1:
        text += " (using the IKZ token)"
    return text


__all__ = ["render_state", "describe_action", "slot_name", "PHASE_NAMES"]
