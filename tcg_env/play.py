"""``tcg play``: a human against a bot in the terminal.

The screen shows the board from the human's seat only (the bot's hand is a count; no deck
contents), the human's hand with card text, the last few events in words, and the legal
actions as a numbered list. The human types a number, or a command (``help``, ``card N``,
``info``, ``board``, ``undo``, ``quit``). The bot's decisions are taken automatically, one
short event line each. When the bot attacks, the human answers the response window
("The bot attacks X → Y. Block?"). At the end a result line is printed
(``Result: you win`` / ``you lose`` / ``draw`` / ``truncated at the turn cap`` or ``decision cap``) and the game is
written as a JSON replay (:mod:`tcg_env.replay`).

With rich on a terminal the screen is drawn with panels and tables; otherwise (``plain=True``,
or output that is not a terminal) it is plain text with no escape codes, and input is read
line by line, so a game can be scripted::

    from tcg_env.play import play_game
    res = play_game(opponent="random", seed=3, input=io.StringIO("1\\n" * 500), output=io.StringIO())
    res.outcome, res.line   # 'loss', 'Result: you lose'
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import secrets
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prefabs import Ability, DeckError, Effect, PrefabError, Target, Trigger, default_decks, find_deck, shipped_cards
from prefabs.text import ability_text, card_text, keyword_names
from verification.errors import ActionError
from verification.layout import (ATK_TGT_LEADER, B_ATK, B_CARD, B_HP, B_KW, B_MAXHP,
                                 B_WEAPON, B_WIDTH, G_ACTIVE, G_ATK_SRC, G_ATK_TGT, G_FIRST, G_PEND_A1,
                                 G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_TGT, P0, P_BOARD, P_DECK_N, P_DISC_N,
                                 P_FATIGUE, P_HAND, P_HAND_N, P_HP, P_IKZ_N, P_IKZ_TAPPED, P_IKZDECK_N, P_LEADER,
                                 P_LEADER_USED, P_MAXHP, P_TOKEN, PH_BLOCK, PH_CHOOSE_MODE, PH_CHOOSE_TARGET,
                                 PH_MULLIGAN, PLAYER_WORDS, TURN_CAP)
from verification.spec import BOARD_SLOTS, GARDEN_SLOTS, HAND_MAX, Primary

from .render import describe_action, unit_status
from .replay import Replay, result_line, result_record, save_replay
from .state import GameState, check_seed

EVENTS_SHOWN = 6
EVENTS_MAX = 24

COMMANDS_HELP = """\
Commands (type one and press Enter):
  N          take action N from the numbered list
  card N     full text of card #N in your hand (card NAME: any card by name)
  info       full text of every card you can see: both leaders, all units and weapons, your hand
  board      draw the board again
  undo       take back your last decision (and the bot's moves after it)
  help       this help and the rules in brief
  quit       stop now (also q or exit); the replay is still written (end of input and Ctrl-C
             also quit)"""

RULES_SUMMARY = """\
Rules in brief (docs/RULES.md has all of them):
  * Bring the enemy leader from 20 health to 0. Both leaders at 0 at once is a draw; a game
    still running when turn 50 ends is truncated (no winner).
  * IKZ pays for cards and abilities: each turn one IKZ card arrives untapped, and paying taps
    that many. The second player holds a one-use IKZ token that pays 1 of a cost.
  * Your turn: your units and IKZ ready, you draw a card (not on turn 1), an IKZ arrives, then
    you act until you End turn. Drawing from an empty deck costs rising fatigue damage.
  * Units enter the garden (front row) or the alley (back row). Garden units attack and block;
    alley units cannot be attacked or block, and only RANGED units attack from there.
  * A unit cannot attack the turn it arrives unless it has CHARGE; attacking exhausts it.
    Attack the enemy leader or an enemy garden unit; if the enemy has GUARD units in the
    garden, you must attack one of them.
  * When you are attacked you may block with a ready garden unit: it takes the hit instead.
    Units deal their attack to each other; leaders never strike back.
  * GUARD must be attacked first · CHARGE attacks at once · RANGED attacks from the alley and
    then takes no damage back · LIFESTEAL combat damage heals your leader · SHIELD prevents
    the next damage.
  * Weapons add attack (and keywords) to one of your units; spells resolve and are discarded."""


class PlayError(ValueError):
    """A bad ``tcg play`` setting (unknown deck, bad seat)."""


# ----------------------------------------------------------------------------- decks and paths
def deck_names(cards=None) -> list[str]:
    """The deck names of ``cards`` (a :class:`prefabs.CardSet`; None: the prebuilt decks)."""
    return list(default_decks() if cards is None else cards.decks)


def resolve_deck_name(name: str | None, default: str, cards=None) -> str:
    """A deck name of ``cards`` (None: a prebuilt deck) from ``name``: exact, any case, a
    hyphenated slug, a unique prefix or part (:func:`prefabs.find_deck`)."""
    if name is None:
        return default
    try:
        return find_deck(name, None if cards is None else cards.decks)
    except DeckError as e:
        raise PlayError(f"{e} (see --list-decks)") from None


def list_decks_text(cards=None) -> str:
    """The decks of ``cards`` (None: the prebuilt ones) with plan, leader and description
    (``tcg play --list-decks``)."""
    kind = "Prebuilt decks" if cards is None or cards.shipped else "Decks"
    lines = [f"{kind} (give the name to --deck / --opponent-deck; any case or a unique part of it works):"]
    for d in (default_decks() if cards is None else cards.decks).values():
        lines.append(f"  {d.name} ({d.plan}) · leader {d.leader}")
        if d.description:
            lines.append(f"      {d.description}")
    return "\n".join(lines)


def default_replay_path(seed: int, now: _dt.datetime | None = None) -> Path:
    """``replays/<timestamp>-seed<N>.json``."""
    now = now or _dt.datetime.now()
    return Path("replays") / f"{now.strftime('%Y%m%d-%H%M%S')}-seed{seed}.json"


# ----------------------------------------------------------------------------- what the human may see
@dataclass
class _Unit:
    slot: int
    cid: int
    name: str
    attack: int
    hp: int
    maxhp: int
    keywords: list[str]
    weapon: str | None
    weapon_bonus: int
    status: list[str]

    @property
    def where(self) -> str:
        return "garden" if self.slot < GARDEN_SLOTS else "alley"

    @property
    def pos(self) -> int:
        return self.slot % GARDEN_SLOTS

    @property
    def stats(self) -> str:
        s = f"{self.attack}/{self.hp}"
        return s + (f" (max {self.maxhp})" if self.hp < self.maxhp else "")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.attack}/{self.hp})"


@dataclass
class _Side:
    seat: int
    leader: str
    leader_cid: int
    hp: int
    maxhp: int
    fatigue: int
    ikz_untapped: int
    ikz_total: int
    ikz_deck: int
    token: bool
    leader_used: bool
    hand_n: int
    hand: list[int] | None      # card ids, or None when hidden (the opponent's)
    deck_n: int
    discard_n: int
    units: list[_Unit] = field(default_factory=list)


def _pw(state: GameState, p: int, f: int) -> int:
    return int(state.row[P0 + p * PLAYER_WORDS + f])


def _uw(state: GameState, p: int, slot: int, f: int) -> int:
    return int(state.row[P0 + p * PLAYER_WORDS + P_BOARD + slot * B_WIDTH + f])


def _card(state: GameState, cid: int):
    return state.pool[cid] if 1 <= cid <= len(state.pool) else None


def _name(state: GameState, cid: int) -> str:
    c = _card(state, cid)
    return c.name if c is not None else f"<card {cid}>"


def _unit(state: GameState, p: int, slot: int) -> _Unit | None:
    cid = _uw(state, p, slot, B_CARD)
    if cid == 0:
        return None
    w = _uw(state, p, slot, B_WEAPON)
    wc = _card(state, w) if w else None
    bonus = wc.attack if wc is not None else 0
    status = unit_status(state.row, p, slot, new_word="new")
    kw = _uw(state, p, slot, B_KW)   # includes the keywords granted by attached weapons
    return _Unit(slot, cid, _name(state, cid), _uw(state, p, slot, B_ATK) + bonus, _uw(state, p, slot, B_HP),
                 _uw(state, p, slot, B_MAXHP), keyword_names(kw), wc.name if wc is not None else None, bonus, status)


def _side(state: GameState, p: int, show_hand: bool) -> _Side:
    hand_n = max(0, min(_pw(state, p, P_HAND_N), HAND_MAX))
    hand = [_pw(state, p, P_HAND + i) for i in range(hand_n)] if show_hand else None
    ikz_n = _pw(state, p, P_IKZ_N)
    leader = _pw(state, p, P_LEADER)
    units = [u for u in (_unit(state, p, s) for s in range(BOARD_SLOTS)) if u is not None]
    return _Side(p, _name(state, leader), leader, _pw(state, p, P_HP), _pw(state, p, P_MAXHP),
                 _pw(state, p, P_FATIGUE), ikz_n - _pw(state, p, P_IKZ_TAPPED), ikz_n, _pw(state, p, P_IKZDECK_N),
                 bool(_pw(state, p, P_TOKEN)), bool(_pw(state, p, P_LEADER_USED)), hand_n, hand,
                 _pw(state, p, P_DECK_N), _pw(state, p, P_DISC_N), units)


def _leader_ability(state: GameState, cid: int) -> str:
    c = _card(state, cid)
    ab = c.abilities.get(Trigger.ACTIVATED) if c is not None else None
    if ab is None:
        return ""
    return f"ability ({ab.cost} IKZ, once per turn): {ability_text(ab, state.pool)}"


_SWAP = re.compile(r"\b(your|enemy)\b")
# Card text (a mode) read from the other seat: the chooser's "your" is "their", "enemy" is "your".
_CARD_SWAPS = {"the enemy leader": "your leader", "all enemy units": "all your units",
               "a random enemy unit": "a random unit of yours", "an enemy unit or leader": "you or one of your units",
               "an enemy unit": "one of your units", "all friendly units": "all their units",
               "a friendly unit": "one of their units", "your": "their"}
_CARD_SWAP = re.compile("|".join(r"\b" + re.escape(k) + r"\b" for k in sorted(_CARD_SWAPS, key=len, reverse=True)))


def describe_for(state: GameState, action, viewer: int) -> str:
    """``action`` (about to be taken) in words, from ``viewer``'s seat.

    The acting player's own actions read as :func:`describe_action` has them; the other
    player's have "your"/"enemy" turned around, and a mulligan says only how many cards went
    back (which cards is hidden information)."""
    a = tuple(int(x) for x in action)
    actor = state.current_player
    if actor == viewer or actor not in (0, 1):
        return describe_action(state, a)
    if a[0] == Primary.MULLIGAN:
        n = bin(a[1]).count("1")
        return "Keep opening hand" if n == 0 else f"Mulligan {n} card{'s' if n != 1 else ''}"
    text = describe_action(state, a)
    if a[0] == Primary.CHOOSE_MODE:   # card text: "your" there means the chooser's
        return _CARD_SWAP.sub(lambda m: _CARD_SWAPS[m.group(0)], text)
    return _SWAP.sub(lambda m: "their" if m.group(1) == "your" else "your", text)


def _effects(before: GameState, after: GameState, viewer: int) -> list[str]:
    """What one decision visibly did, from ``viewer``'s seat: leader and unit health changes
    and units that left the board (all public information)."""
    out = []
    for p in (viewer, 1 - viewer):
        whose = "your" if p == viewer else "the bot's"
        h0, h1 = _pw(before, p, P_HP), _pw(after, p, P_HP)
        if h0 != h1:
            out.append(f"{whose} leader {h0}→{h1} HP")
        was = [_unit(before, p, s) for s in range(BOARD_SLOTS)]
        now = [_unit(after, p, s) for s in range(BOARD_SLOTS)]
        for u0, u1 in zip(was, now):
            if u0 is not None and u1 is not None and u0.cid == u1.cid and u0.hp != u1.hp:
                out.append(f"{whose} {u0.name} {u0.hp}→{u1.hp} HP")
        gone = Counter(u.cid for u in was if u is not None) - Counter(u.cid for u in now if u is not None)
        for cid, n in gone.items():
            out.append(f"{whose} {_name(after, cid)} {'dies' if n == 1 else f'x{n} die'}")
    return out


def _pending_attack(state: GameState, viewer: int) -> str:
    p = int(state.row[G_ACTIVE])
    src, tgt = int(state.row[G_ATK_SRC]), int(state.row[G_ATK_TGT])
    att = _unit(state, p, src) if 0 <= src < BOARD_SLOTS else None
    who = "The bot" if p != viewer else "You"
    att_s = att.label if att is not None else "a unit"
    q = 1 - p
    mine = "your" if q == viewer else "their"
    if tgt == ATK_TGT_LEADER:
        tgt_s = f"{mine} leader {_name(state, _pw(state, q, P_LEADER))} (HP {_pw(state, q, P_HP)})"
    else:
        u = _unit(state, q, tgt) if 0 <= tgt < BOARD_SLOTS else None
        tgt_s = f"{mine} {u.label}" if u is not None else f"{mine} unit"
    return f"{who} attacks {att_s} → {tgt_s}. Block?"


def _pending_ability_text(state: GameState) -> str:
    r = state.row
    try:
        ab = Ability(Effect(int(r[G_PEND_EFF])), int(r[G_PEND_A1]), int(r[G_PEND_A2]), Target(int(r[G_PEND_TGT])))
    except ValueError:
        return ""
    return ability_text(ab, state.pool)


def _headline(state: GameState, viewer: int) -> str:
    ph = state.phase
    if ph == PH_MULLIGAN:
        order = "first" if int(state.row[G_FIRST]) == viewer else "second"
        return (f"Mulligan (you go {order}): choose which opening-hand cards to send back and redraw. "
                f"Option 1 keeps your hand.")
    if ph == PH_BLOCK:
        return _pending_attack(state, viewer)
    if ph == PH_CHOOSE_TARGET:
        what = _pending_ability_text(state)
        return f"Choose a target for {_name(state, int(state.row[G_PEND_CARD]))}" + (f": {what}." if what else ".")
    if ph == PH_CHOOSE_MODE:
        return f"Choose a mode for {_name(state, int(state.row[G_PEND_CARD]))}."
    return f"Your turn (turn {state.turn} of {TURN_CAP}): choose an action."


# ----------------------------------------------------------------------------- output: plain and rich
def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _PlainUI:
    """Plain text, no escape codes: for pipes, files, tests and ``--plain``."""

    def __init__(self, out: IO[str]):
        self.out = out

    def line(self, text: str = "") -> None:
        print(text, file=self.out)

    def flush(self) -> None:
        try:
            self.out.flush()
        except (AttributeError, ValueError):
            pass

    def note(self, text: str) -> None:
        self.line(text)

    def warn(self, text: str) -> None:
        self.line(f"! {text}")

    def event(self, text: str) -> None:
        self.line(f"  {text}")

    def heading(self, text: str) -> None:
        self.line(f"--- {text} ---")

    def result(self, text: str) -> None:
        self.line(text)

    def prompt(self, text: str) -> None:
        self.out.write(text)
        self.flush()

    # the screen
    def _side_lines(self, s: _Side, title: str, state: GameState) -> list[str]:
        token = "available" if s.token else "none"
        head = (f"{title} · {s.leader} · HP {s.hp}/{s.maxhp} · IKZ {s.ikz_untapped}/{s.ikz_total} untapped"
                f" · IKZ token: {token}")
        info = f"  hand {s.hand_n} card{'s' if s.hand_n != 1 else ''} · " if s.hand is None else "  "
        info += f"deck {s.deck_n} · IKZ deck {s.ikz_deck} · discard {s.discard_n} · fatigue {s.fatigue}"
        ab = _leader_ability(state, s.leader_cid)
        if ab:
            info += f" · leader {ab}" + (" (used this turn)" if s.leader_used else "")
        lines = [head, info]
        for row, lo, hi in (("Garden", 0, GARDEN_SLOTS), ("Alley ", GARDEN_SLOTS, BOARD_SLOTS)):
            units = [u for u in s.units if lo <= u.slot < hi]
            if not units:
                lines.append(f"  {row}: (empty)")
            for i, u in enumerate(units):
                lead = f"  {row}: " if i == 0 else " " * (len(row) + 4)
                parts = [f"[{u.pos}] {u.name} {u.stats}"]
                if u.keywords:
                    parts.append(" ".join(u.keywords))
                if u.weapon:
                    parts.append(f"weapon {u.weapon} (+{u.weapon_bonus})")
                parts.append(", ".join(u.status))
                lines.append(lead + " · ".join(parts))
        if s.hand is not None:
            lines.append(f"  Your hand ({s.hand_n}):" + ("" if s.hand else " (empty)"))
            for i, cid in enumerate(s.hand):
                c = _card(state, cid)
                lines.append(f"    #{i + 1} " + (card_text(c, state.pool) if c is not None else f"<card {cid}>"))
        return lines

    def screen(self, sess: "_Session", options: list[str] | None, headline: str | None) -> None:
        st, me = sess.state, sess.human
        opp, you = _side(st, 1 - me, False), _side(st, me, True)
        self.line()
        self.line(f"==== Ikazuchi Duel · turn {st.turn} · you are P{me} · seed {sess.seed} ====")
        for ln in self._side_lines(opp, f"Opponent P{opp.seat} ({sess.opponent} bot)", st):
            self.line(ln)
        self.line()
        for ln in self._side_lines(you, f"You P{me}", st):
            self.line(ln)
        self.line()
        self.line("Recent events:" + ("" if sess.events else " (none yet)"))
        for ev in sess.recent_events():
            self.line(f"  {ev}")
        if headline:
            self.line()
            self.line(headline)
        for i, text in enumerate(options or []):
            self.line(f"  {i + 1}) {text}")


class _RichUI(_PlainUI):
    """The same screen with rich panels and tables, for a terminal."""

    def __init__(self, out: IO[str]):
        super().__init__(out)
        from rich.console import Console
        self.console = Console(file=out, highlight=False, soft_wrap=False)

    def _print(self, obj, **kw) -> None:
        self.console.print(obj, **kw)

    def line(self, text: str = "") -> None:
        from rich.text import Text
        self._print(Text(text))

    def warn(self, text: str) -> None:
        from rich.text import Text
        self._print(Text(f"! {text}", style="bold yellow"))

    def event(self, text: str) -> None:
        from rich.text import Text
        self._print(Text(f"  {text}", style="cyan"))

    def heading(self, text: str) -> None:
        from rich.text import Text
        self.console.rule(Text(text, style="bold"))

    def result(self, text: str) -> None:
        from rich.text import Text
        self._print(Text(text, style="bold magenta"))

    def prompt(self, text: str) -> None:
        from rich.text import Text
        self._print(Text(text, style="bold"), end="")
        self.flush()

    def _panel(self, s: _Side, title: str, state: GameState, style: str):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        head = Text()
        head.append(f"{s.leader}  ", style="bold")
        head.append(f"HP {s.hp}/{s.maxhp}", style="bold red" if s.hp <= s.maxhp // 4 else "bold green")
        head.append(f"   IKZ {s.ikz_untapped}/{s.ikz_total} untapped   IKZ token: {'available' if s.token else 'none'}")
        info = Text(style="dim")
        if s.hand is None:
            info.append(f"hand {s.hand_n} card{'s' if s.hand_n != 1 else ''} · ")
        info.append(f"deck {s.deck_n} · IKZ deck {s.ikz_deck} · discard {s.discard_n} · fatigue {s.fatigue}")
        ab = _leader_ability(state, s.leader_cid)
        if ab:
            info.append(f"\nleader {ab}" + (" (used this turn)" if s.leader_used else ""))
        parts = [head, info]
        units = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for col in ("row", "unit", "atk/hp", "keywords", "weapon", "status"):
            units.add_column(col)
        for u in s.units:
            units.add_row(f"{u.where} {u.pos}", Text(u.name, style="bold"), u.stats, " ".join(u.keywords),
                          f"{u.weapon} (+{u.weapon_bonus})" if u.weapon else "", ", ".join(u.status))
        parts.append(units if s.units else Text("no units on the board", style="dim"))
        if s.hand is not None:
            hand = Table(box=None, show_header=True, header_style="bold", pad_edge=False, title_justify="left")
            hand.add_column("#")
            hand.add_column("cost")
            hand.add_column("card")
            for i, cid in enumerate(s.hand):
                c = _card(state, cid)
                hand.add_row(str(i + 1), str(c.cost) if c is not None else "?",
                             card_text(c, state.pool) if c is not None else f"<card {cid}>")
            parts.append(Text(f"Your hand ({s.hand_n})", style="bold"))
            parts.append(hand if s.hand else Text("(empty)", style="dim"))
        return Panel(Group(*parts), title=title, border_style=style, title_align="left")

    def screen(self, sess: "_Session", options: list[str] | None, headline: str | None) -> None:
        from rich.panel import Panel
        from rich.text import Text

        st, me = sess.state, sess.human
        self.console.clear()
        self.console.rule(Text(f"Ikazuchi Duel · turn {st.turn} · you are P{me} · seed {sess.seed}", style="bold"))
        self._print(self._panel(_side(st, 1 - me, False), f"Opponent P{1 - me} ({sess.opponent} bot)", st, "red"))
        self._print(self._panel(_side(st, me, True), f"You P{me}", st, "green"))
        ev = Text("\n".join(sess.recent_events()) or "(none yet)")
        self._print(Panel(ev, title="Recent events", border_style="blue", title_align="left"))
        if headline:
            self._print(Text(headline, style="bold yellow"))
        items = []
        for i, text in enumerate(options or []):
            item = Text(f"{i + 1:>3}) ", style="bold")
            item.append(text)
            items.append(item)
        if len(items) > 12:   # long lists (every slot x token choice) in columns, numbered top to bottom
            from rich.columns import Columns
            self._print(Columns(items, column_first=True, padding=(0, 3)))
        else:
            for item in items:
                self._print(item)


# ----------------------------------------------------------------------------- the game loop
@dataclass
class PlayResult:
    """How a :func:`play_game` ended. ``outcome`` is win, loss, draw, truncated or quit."""
    outcome: str
    line: str
    state: GameState
    replay: Replay
    replay_path: Path | None = None


@dataclass
class _Snapshot:
    state: GameState
    n_actions: int
    n_events: int
    bot_rng: object
    text: str


_NUMBER = re.compile(r"[+-]?[0-9]{1,18}")


class _Quit(Exception):
    pass


class _Session:
    def __init__(self, *, bot, opponent: str, seed: int, decks: tuple[str, str], human: int, ui: _PlainUI,
                 inp: IO[str], cards=None):
        self.bot, self.opponent, self.seed, self.decks, self.human = bot, opponent, seed, decks, human
        self.ui, self.inp = ui, inp
        cards = cards or shipped_cards()
        self.state = GameState.new(cards.decks[decks[0]], cards.decks[decks[1]], seed, pool=cards.pool)
        self.actions: list[tuple[int, int, int, int]] = []
        self.events: list[str] = []
        self.undo_stack: list[_Snapshot] = []
        self.quit = False
        self._turn_seen = -1

    # --- bookkeeping
    def _take(self, action, who: str, text: str) -> None:
        turn = self.state.turn
        before = self.state.clone()
        self.state.apply(action)
        self.actions.append(tuple(int(x) for x in action))
        effects = _effects(before, self.state, self.human)
        if effects:
            text += f" [{'; '.join(effects)}]"
        self.events.append(f"turn {turn} · {who}: {text}")
        self.ui.event(f"{who}: {text}")

    def recent_events(self) -> list[str]:
        """The last EVENTS_SHOWN events, or more when the bot did more since your last decision
        (so nothing it did goes unseen; at most EVENTS_MAX)."""
        ev = self.events
        mine = [i for i, e in enumerate(ev) if " · You: " in e]
        start = len(ev) - EVENTS_SHOWN
        if mine:
            start = min(start, mine[-1])
        return ev[max(0, start, len(ev) - EVENTS_MAX):]

    def _bot_rng(self):
        rng = getattr(self.bot, "_rng", None)
        return rng.copy() if hasattr(rng, "copy") else None

    def _announce_turn(self) -> None:
        st = self.state
        if st.phase == PH_MULLIGAN or st.turn == self._turn_seen or st.done:
            return
        self._turn_seen = st.turn
        whose = "your turn" if int(st.row[G_ACTIVE]) == self.human else "the bot's turn"
        self.ui.heading(f"Turn {st.turn}: {whose}")

    # --- the bot
    def bot_move(self) -> None:
        a = tuple(int(x) for x in self.bot.act(self.state))
        self._take(a, "Bot", describe_for(self.state, a, self.human))

    # --- the human
    def human_move(self) -> None:
        """One human decision (or a command that changes nothing). Raises _Quit to stop."""
        st = self.state
        legal = [tuple(int(x) for x in t) for t in st.legal_tuples()]
        texts = [describe_action(st, t) for t in legal]
        headline = _headline(st, self.human)
        self.ui.screen(self, texts, headline)
        n = len(legal)
        while True:
            self.ui.prompt(f"Choose 1-{n} (or help)> ")
            try:
                raw = self.inp.readline()
            except UnicodeDecodeError:
                self.ui.line()
                self.ui.warn("That line could not be read (bad characters); type a number or 'help'.")
                continue
            except (OSError, ValueError):   # a closed or broken input stream: like end of input
                raw = ""
            if raw == "":
                self.ui.line()
                self.ui.note("End of input: quitting.")
                raise _Quit
            cmd = raw.strip()
            low = cmd.lower()
            if low == "":
                self.ui.warn(f"Please type the number of an action (1-{n}), or 'help'.")
                continue
            if _NUMBER.fullmatch(low):
                k = int(low)
                if not 1 <= k <= n:
                    self.ui.warn(f"There is no action {k}: choose a number from 1 to {n}.")
                    continue
                a = legal[k - 1]
                self.undo_stack.append(_Snapshot(st.clone(), len(self.actions), len(self.events), self._bot_rng(),
                                                 texts[k - 1]))
                try:
                    self._take(a, "You", texts[k - 1])
                except ActionError as e:   # cannot happen for a listed tuple; never crash on it
                    self.undo_stack.pop()
                    self.ui.warn(f"That action was refused: {e.reason}")
                    continue
                return
            word, _, arg = low.partition(" ")
            if word in ("quit", "q", "exit"):
                self.ui.note("You quit.")
                raise _Quit
            if word in ("help", "h", "?"):
                self.ui.line(COMMANDS_HELP)
                self.ui.line()
                self.ui.line(RULES_SUMMARY)
                continue
            if word in ("board", "b", "redraw"):
                self.ui.screen(self, texts, headline)
                continue
            if word in ("undo", "u"):
                if self.undo():
                    return
                continue
            if word in ("info", "i"):
                self.ui.line(self.info_text())
                continue
            if word in ("card", "c"):
                self.ui.line(self.card_command(cmd.partition(" ")[2].strip()))
                continue
            shown = cmd if len(cmd) <= 40 else cmd[:37] + "..."
            self.ui.warn(f"{shown!r} is not a number or a command: type a number from 1 to {n}, or 'help'.")

    def undo(self) -> bool:
        if not self.undo_stack:
            self.ui.warn("Nothing to undo: you have not made a decision yet.")
            return False
        snap = self.undo_stack.pop()
        bot_moves = len(self.actions) - snap.n_actions - 1
        self.state = snap.state
        del self.actions[snap.n_actions:]
        del self.events[snap.n_events:]
        if snap.bot_rng is not None:
            self.bot._rng[...] = snap.bot_rng
        extra = f" and the bot's {bot_moves} move{'s' if bot_moves != 1 else ''} after it" if bot_moves > 0 else ""
        self.ui.note(f"Undone: {snap.text}{extra}.")
        self._turn_seen = self.state.turn
        return True

    # --- card text
    def card_command(self, arg: str) -> str:
        st = self.state
        hand = _side(st, self.human, True).hand or []
        if not arg:
            return f"Usage: card N (N = a card in your hand, 1-{len(hand)}) or card NAME."
        a = arg.lstrip("#")
        if _NUMBER.fullmatch(a):
            k = int(a)
            if not 1 <= k <= len(hand):
                return (f"Your hand has no card #{k}: " +
                        (f"choose 1-{len(hand)}." if hand else "your hand is empty."))
            return f"#{k} " + card_text(st.pool[hand[k - 1]], st.pool)
        key = arg.lower()
        cards = st.pool.cards
        hits = [c for c in cards if c.name.lower() == key] or [c for c in cards if c.name.lower().startswith(key)] \
            or [c for c in cards if key in c.name.lower()]
        if not hits:
            return f"No card is called {arg!r}."
        if len(hits) > 4:
            return (f"{len(hits)} cards match {arg!r}: " + ", ".join(c.name for c in hits[:8]) +
                    (", ..." if len(hits) > 8 else "") + "; type more of the name.")
        return "\n".join(card_text(c, st.pool) for c in hits)

    def info_text(self) -> str:
        st, me = self.state, self.human
        lines = []
        for p, who in ((1 - me, "Opponent"), (me, "You")):
            s = _side(st, p, p == me)
            lines.append(f"{who} (P{p}):")
            lines.append(f"  leader: {card_text(st.pool[s.leader_cid], st.pool)}")
            for u in s.units:
                lines.append(f"  {u.where} {u.pos}: {u.name} now {u.stats}"
                             + (f" {' '.join(u.keywords)}" if u.keywords else "")
                             + f" · {card_text(st.pool[u.cid], st.pool)}")
                if u.weapon:
                    wcid = _uw(st, p, u.slot, B_WEAPON)
                    lines.append(f"      weapon: {card_text(st.pool[wcid], st.pool)}")
            if s.hand is None:
                lines.append(f"  hand: {s.hand_n} card{'s' if s.hand_n != 1 else ''} (hidden)")
            else:
                for i, cid in enumerate(s.hand):
                    lines.append(f"  hand #{i + 1}: {card_text(st.pool[cid], st.pool)}")
        return "\n".join(lines)

    # --- the whole game
    def run(self) -> None:
        try:
            while not self.state.done:
                self._announce_turn()
                if self.state.current_player == self.human:
                    self.human_move()
                else:
                    self.bot_move()
        except _Quit:
            self.quit = True
        except KeyboardInterrupt:
            self.ui.line()
            self.ui.note("Interrupted: quitting.")
            self.quit = True


def play_game(opponent: str = "heuristic", seed: int | None = None, deck: str | None = None,
              opponent_deck: str | None = None, seat: int = 0, replay_out: str | os.PathLike | None = None,
              plain: bool | None = None, input: IO[str] | None = None, output: IO[str] | None = None,
              bot=None, cards=None) -> PlayResult:
    """Play one game, the human against a bot, reading commands from ``input`` (default stdin)
    and writing the screen to ``output`` (default stdout).

    ``opponent`` is ``random``, ``heuristic`` or ``checkpoint:PATH`` (built by
    :func:`tcg_env.bots.make_bot`, whose errors propagate); ``bot`` may be any object with
    ``act(state)`` instead (then ``opponent`` only labels it). ``seed`` None picks a random seed. ``deck`` and
    ``opponent_deck`` are deck names (defaults: the first and second deck). ``cards``: the
    :class:`prefabs.CardSet` to play (None: the shipped cards and prebuilt decks); the replay
    carries its files' text.
    ``seat`` is the human's seat (who goes first is drawn from the seed). ``plain`` None means
    plain text unless ``output`` is a terminal. The replay is written to ``replay_out`` when
    given, also when the game is quit. Returns a :class:`PlayResult`.
    """
    from .bots import make_bot

    inp = sys.stdin if input is None else input
    out = sys.stdout if output is None else output
    seed = _seat_and_seed(seat, seed)
    cards = cards or shipped_cards()
    names = deck_names(cards)
    mine = resolve_deck_name(deck, names[0], cards)
    theirs = resolve_deck_name(opponent_deck, names[1 % len(names)], cards)
    if bot is None:
        bot = make_bot(opponent, seed, cards=cards)   # ValueError if unknown; CheckpointError for other cards
    decks = (mine, theirs) if seat == 0 else (theirs, mine)
    ui: _PlainUI = _PlainUI(out) if (plain or (plain is None and not _isatty(out))) else _RichUI(out)

    ui.note(f"Ikazuchi Duel: you (P{seat}, {mine}) against the {opponent} bot (P{1 - seat}, {theirs}), seed {seed}."
            f" Type 'help' for commands and rules.")
    ui.flush()
    sess = _Session(bot=bot, opponent=opponent, seed=seed, decks=decks, human=seat, ui=ui, inp=inp, cards=cards)
    ui.note(f"P{int(sess.state.row[G_FIRST])} goes first ({'you' if int(sess.state.row[G_FIRST]) == seat else 'the bot'}).")
    sess.run()

    st = sess.state
    if st.done:
        ui.screen(sess, None, "Game over.")
    line = result_line(st, seat)
    outcome = ("quit" if not st.done else "truncated" if st.truncated else "draw" if st.winner == 2
               else "win" if st.winner == seat else "loss")
    replay = Replay(seed=seed, decks=decks, actions=list(sess.actions), seats={"human": seat, "bot": opponent},
                    result=result_record(st, seat),
                    meta={"created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                          "tool": "tcg play", "bot_seed": seed, "quit": sess.quit},
                    card_files=cards.files())
    path = None
    if replay_out is not None:
        try:
            path = save_replay(replay, replay_out)
            ui.note(f"Replay written to {path} (watch it with: tcg replay {path})")
        except OSError as e:
            ui.warn(f"could not write the replay to {replay_out}: {e}")
    ui.result(line)
    ui.flush()
    return PlayResult(outcome, line, st, replay, path)


def _seat_and_seed(seat, seed, flag: str = "") -> int:
    """The game's seed as an int (None: a fresh one), after checking that ``seat`` is 0 or 1 and
    ``seed`` an integer in 0..2**63-1 (:class:`PlayError` naming ``flag + "seat"`` or ``"seed"``)."""
    if seat not in (0, 1):
        raise PlayError(f"{flag}seat must be 0 or 1, got {seat!r}")
    if seed is None:
        return secrets.randbelow(1_000_000)
    try:
        ok = check_seed(seed) < 2 ** 63
    except ValueError:
        ok = False
    if not ok:
        raise PlayError(f"{flag}seed must be an integer in 0..2**63-1, got {seed!r}")
    return int(seed)


def _check_replay_out(path: Path, label: str = "--replay-out") -> None:
    """A replay path: a new file (never an existing file, which would be overwritten, or a folder)
    in a folder that exists or can be made and in which a file can really be created (a trial
    file, removed again: permission bits say yes to root even under /proc)."""
    import tempfile
    if path.exists():
        raise PlayError(f"{label} {path} already exists; give a new file name (nothing is overwritten)")
    above = next((p for p in path.parents if p.exists()), None)   # the nearest existing folder above
    if above is not None and not above.is_dir():
        raise PlayError(f"{label} {path}: {above} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, trial = tempfile.mkstemp(prefix=".replay-", suffix=".trial", dir=path.parent)
        os.close(fd)
        os.unlink(trial)
    except OSError as e:
        raise PlayError(f"{label} {path}: no file can be written in {path.parent} ({e.strerror or e})") from None


def play_cards(args):
    """The :class:`prefabs.CardSet` ``tcg play`` plays (:func:`cards_from_flags` of its flags)."""
    return cards_from_flags(getattr(args, "cards", None), getattr(args, "decks_file", None),
                            getattr(args, "opponent", ""))


def cards_from_flags(cards_file, decks_file, bot: str = ""):
    """The :class:`prefabs.CardSet` a command's ``--cards``/``--decks-file`` give when either is
    given, else the one a ``checkpoint:PATH`` bot was trained on (the files' text it carries),
    else the shipped cards. :class:`PlayError` for files that cannot be read or used."""
    from prefabs import load_card_set
    if cards_file is not None or decks_file is not None:
        try:
            return load_card_set(cards_file, decks_file)
        except (PrefabError, DeckError) as e:
            raise PlayError(f"{'--decks-file' if isinstance(e, DeckError) else '--cards'}: {e}") from None
    if isinstance(bot, str) and bot.startswith("checkpoint:"):
        from training.checkpoint import policy_cards   # only a checkpoint bot needs torch
        return policy_cards(bot[len("checkpoint:"):].partition("@")[0])
    return shipped_cards()


def play_command(args) -> int:
    """``tcg play`` with parsed arguments; returns the exit status (2 for a bad setting)."""
    from .bots import make_bot

    try:
        cards = play_cards(args)
        if getattr(args, "list_decks", False):
            print(list_decks_text(cards))
            return 0
        seed = _seat_and_seed(args.seat, args.seed, "--")
        names = deck_names(cards)
        deck = resolve_deck_name(args.deck, names[0], cards)
        opp_deck = resolve_deck_name(args.opponent_deck, names[1 % len(names)], cards)
        bot = make_bot(args.opponent, seed, cards=cards)
        if args.replay_out is not None:   # checked before the game, so a finished game's replay is not lost
            _check_replay_out(Path(args.replay_out))
    except (PlayError, ValueError, NotImplementedError, ImportError, OSError) as e:
        # a bad deck/seat/seed, an unknown bot, or a checkpoint bot that cannot be built
        print(f"tcg play: {e}", file=sys.stderr)
        return 2
    out = args.replay_out
    if out is None:   # the default place: if it cannot be written, say so now and play without a replay
        out = default_replay_path(seed)
        try:
            _check_replay_out(out, "the default replay")
        except PlayError as e:
            print(f"tcg play: {e}; this game's replay will not be saved (give --replay-out FILE)", file=sys.stderr)
            out = None
    res = play_game(opponent=args.opponent, seed=seed, deck=deck, opponent_deck=opp_deck, seat=args.seat,
                    replay_out=out, plain=True if args.plain else None, bot=bot, cards=cards)
    return 1 if out is not None and res.replay_path is None else 0   # 1: the replay could not be written after all


__all__ = ["COMMANDS_HELP", "RULES_SUMMARY", "PlayError", "PlayResult", "default_replay_path", "describe_for",
           "cards_from_flags", "list_decks_text", "play_command", "play_game", "resolve_deck_name"]
