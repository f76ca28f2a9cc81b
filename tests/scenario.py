"""Build hand-made game states for rule scenario tests.

A scenario starts from ``GameState.new(...)``, plays both mulligans (keep everything) to
reach the main phase, then rewrites the state row into a blank table: no units, empty
hands, discards and IKZ areas, no IKZ token, leaders at full health, nothing pending.
Each builder call then states one part of the position::

    st = (Scenario(seed=3).main_phase(active=0)
          .hand(0, ["Ember Drake"]).ikz(0, n=5)
          .unit(1, 0, "Rivet Sentry")
          .build())
    st.apply(play_unit(0, slot=0))

What a test does not state stays blank, except the main decks, which keep the seed's
shuffled cards unless :meth:`Scenario.deck` sets them. The IKZ deck is filled with
"Plain IKZ" (no arrival effect) unless :meth:`Scenario.ikz_deck` sets it.

Entity pointers are from the acting player's view (``verification.spec``); the helpers
below name them. Action helpers return the 4-int tuples ``GameState.apply`` takes.
"""
from __future__ import annotations

import numpy as np
import pytest

from prefabs import Keyword, default_pool
from tcg_env.state import GameState
from verification.errors import IllegalActionError
from verification.layout import (G_RNG_HI, G_RNG_LO, G_SEED_HI, G_SEED_LO, B_ATK, B_CARD, B_HP, B_KW, B_MAXHP, B_MOVED, B_READY, B_SICK, B_USED, B_WEAPON,
                                 B_WIDTH, DECK_SIZE, DISCARD_MAX, G_ACTIVE, G_ATK_SRC, G_ATK_TGT, G_FIRST,
                                 G_MULL_PLAYER, G_PEND_A1, G_PEND_A2, G_PEND_CARD, G_PEND_EFF, G_PEND_PLAYER,
                                 G_PEND_SLOT, G_PEND_TGT, G_PHASE, G_TURN, IKZ_DECK_SIZE, P0, P_BOARD, P_DECK,
                                 P_DECK_N, P_DISC, P_DISC_N, P_FATIGUE, P_HAND, P_HAND_N, P_HP, P_IKZ, P_IKZ_N,
                                 P_IKZ_TAPPED, P_IKZDECK, P_IKZDECK_N, P_LEADER, P_LEADER_USED, P_MAXHP, P_TOKEN,
                                 PH_MAIN, PH_MULLIGAN, PLAYER_WORDS)
from verification.rules import pbase
from verification.spec import (BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, ENT_MY_LEADER, ENT_OPP_BOARD, ENT_OPP_LEADER,
                               GARDEN_SLOTS, HAND_MAX, Primary)

PLAIN_IKZ = "Plain IKZ"
KEEP_ALL = 0   # mulligan mask that replaces nothing


# ----------------------------------------------------------------------------- entity pointers
def ent_board(slot: int) -> int:
    """Your board slot (0-4 garden, 5-9 alley) as an entity pointer."""
    assert 0 <= slot < BOARD_SLOTS
    return ENT_MY_BOARD + slot


def ent_enemy_board(slot: int) -> int:
    """The enemy's board slot as an entity pointer."""
    assert 0 <= slot < BOARD_SLOTS
    return ENT_OPP_BOARD + slot


def ent_hand(i: int) -> int:
    """Your hand position i as an entity pointer."""
    assert 0 <= i < HAND_MAX
    return ENT_MY_HAND + i


MY_LEADER = ENT_MY_LEADER
ENEMY_LEADER = ENT_OPP_LEADER


# ----------------------------------------------------------------------------- action tuples
def end_turn():
    return (int(Primary.END_TURN), 0, 0, 0)


def mulligan(mask: int):
    return (int(Primary.MULLIGAN), mask, 0, 0)


def play_unit(hand_pos: int, slot: int, token: bool = False):
    return (int(Primary.PLAY_UNIT), ent_hand(hand_pos), slot, int(token))


def play_spell(hand_pos: int, target: int = 0, token: bool = False):
    return (int(Primary.PLAY_SPELL), ent_hand(hand_pos), target, int(token))


def attach(hand_pos: int, slot: int, token: bool = False):
    return (int(Primary.ATTACH_WEAPON), ent_hand(hand_pos), ent_board(slot), int(token))


def attack(slot: int, enemy_slot: int | None = None):
    """Attack with your unit in ``slot``: the enemy leader, or the enemy unit in ``enemy_slot``."""
    tgt = ENT_OPP_LEADER if enemy_slot is None else ent_enemy_board(enemy_slot)
    return (int(Primary.ATTACK), ent_board(slot), tgt, 0)


def block(slot: int):
    return (int(Primary.BLOCK), ent_board(slot), 0, 0)


def no_block():
    return (int(Primary.NO_BLOCK), 0, 0, 0)


def activate(slot: int, target: int = 0, token: bool = False):
    return (int(Primary.ACTIVATE), ent_board(slot), target, int(token))


def leader_ability(target: int = 0, token: bool = False):
    return (int(Primary.LEADER_ABILITY), 0, target, int(token))


def move(slot: int, dest: int):
    return (int(Primary.MOVE), ent_board(slot), dest, 0)


def choose_target(target: int):
    return (int(Primary.CHOOSE_TARGET), 0, target, 0)


def choose_mode(mode: int):
    return (int(Primary.CHOOSE_MODE), 0, mode, 0)


# ----------------------------------------------------------------------------- reading the row
def pword(st: GameState, p: int, word: int) -> int:
    """A per-player word (``P_*``) of player p."""
    return int(st.row[P0 + p * PLAYER_WORDS + word])


def uword(st: GameState, p: int, slot: int, field: int) -> int:
    """A board slot field (``B_*``) of player p's slot."""
    return int(st.row[P0 + p * PLAYER_WORDS + P_BOARD + slot * B_WIDTH + field])


def _names(st: GameState, ids) -> list[str]:
    return [st.pool[int(c)].name for c in ids]


def hand_names(st: GameState, p: int) -> list[str]:
    b = P0 + p * PLAYER_WORDS
    return _names(st, st.row[b + P_HAND:b + P_HAND + pword(st, p, P_HAND_N)])


def discard_names(st: GameState, p: int) -> list[str]:
    b = P0 + p * PLAYER_WORDS
    return _names(st, st.row[b + P_DISC:b + P_DISC + pword(st, p, P_DISC_N)])


def deck_names(st: GameState, p: int) -> list[str]:
    """Main deck, top (next draw) first."""
    b = P0 + p * PLAYER_WORDS
    return _names(st, st.row[b + P_DECK:b + P_DECK + pword(st, p, P_DECK_N)])[::-1]


def unit_name(st: GameState, p: int, slot: int) -> str | None:
    c = uword(st, p, slot, B_CARD)
    return st.pool[c].name if c else None


def board_names(st: GameState, p: int) -> list[str | None]:
    return [unit_name(st, p, s) for s in range(BOARD_SLOTS)]


def hp(st: GameState, p: int) -> int:
    """Leader health."""
    return pword(st, p, P_HP)


def unit_hp(st: GameState, p: int, slot: int) -> int:
    return uword(st, p, slot, B_HP)


def unit_kw(st: GameState, p: int, slot: int) -> Keyword:
    return Keyword(uword(st, p, slot, B_KW))


def legal_set(st: GameState) -> set[tuple[int, int, int, int]]:
    return {tuple(int(x) for x in t) for t in st.legal_tuples()}


def assert_illegal(st: GameState, action, reason: str) -> None:
    """The action is refused with ``reason`` in its message and the row is left unchanged;
    the explainer gives the same reason and the enumerator does not list it."""
    before = st.row.copy()
    with pytest.raises(IllegalActionError) as info:
        st.apply(action)
    assert reason in str(info.value), str(info.value)
    assert np.array_equal(st.row, before), "a refused action changed the state"
    assert reason in (st.explain(action) or "")
    assert tuple(action) not in legal_set(st)


def assert_legal(st: GameState, action) -> None:
    assert st.explain(action) is None, st.explain(action)
    assert tuple(action) in legal_set(st)


# ----------------------------------------------------------------------------- the builder
class Scenario:
    """Fluent builder of a hand-made main-phase state; see the module docstring."""

    def __init__(self, seed: int = 0, deck0=None, deck1=None, pool=None):
        self.pool = pool or default_pool()
        self.st = GameState.new(deck0, deck1, seed=seed, pool=self.pool)
        self.st.apply(mulligan(KEEP_ALL))
        self.st.apply(mulligan(KEEP_ALL))
        self.row = self.st.row
        self._blank()

    # -- low level
    def _id(self, name: str | int) -> int:
        return name if isinstance(name, int) else self.pool.id_of(name)

    def _pb(self, p: int) -> int:
        return P0 + p * PLAYER_WORDS

    def _sb(self, p: int, slot: int) -> int:
        assert 0 <= slot < BOARD_SLOTS, f"board slot {slot} out of range"
        return self._pb(p) + P_BOARD + slot * B_WIDTH

    def set_word(self, word: int, value: int) -> "Scenario":
        """Set a global word (``G_*``) directly."""
        self.row[word] = value
        return self

    def set_pword(self, p: int, word: int, value: int) -> "Scenario":
        """Set a per-player word (``P_*``) directly."""
        self.row[self._pb(p) + word] = value
        return self

    def _blank(self) -> None:
        r = self.row
        for p in range(2):
            b = self._pb(p)
            r[b + P_HAND:b + P_HAND + HAND_MAX] = 0
            r[b + P_HAND_N] = 0
            r[b + P_DISC:b + P_DISC + DISCARD_MAX] = 0
            r[b + P_DISC_N] = 0
            r[b + P_BOARD:b + P_BOARD + BOARD_SLOTS * B_WIDTH] = 0
            r[b + P_TOKEN] = 0
            r[b + P_LEADER_USED] = 0
            r[b + P_FATIGUE] = 0
            r[b + P_HP] = r[b + P_MAXHP]
            self._set_ikz(p, 0, 0, [PLAIN_IKZ] * IKZ_DECK_SIZE)
        r[G_ATK_SRC] = -1
        r[G_ATK_TGT] = -1
        r[G_PEND_PLAYER] = 0
        r[G_PEND_CARD] = 0
        r[G_PEND_SLOT] = -1
        r[G_PEND_EFF] = 0
        r[G_PEND_A1] = 0
        r[G_PEND_A2] = 0
        r[G_PEND_TGT] = 0
        r[G_MULL_PLAYER] = -1
        r[G_PHASE] = PH_MAIN

    def _set_ikz(self, p: int, n: int, tapped: int, deck_top_first) -> None:
        b = self._pb(p)
        ids = [self._id(x) for x in deck_top_first]
        assert 0 <= tapped <= n and n + len(ids) <= IKZ_DECK_SIZE, "IKZ area + IKZ deck hold at most 10 cards"
        plain = self._id(PLAIN_IKZ)
        self.row[b + P_IKZ:b + P_IKZ + IKZ_DECK_SIZE] = 0
        self.row[b + P_IKZ:b + P_IKZ + n] = plain
        self.row[b + P_IKZ_N] = n
        self.row[b + P_IKZ_TAPPED] = tapped
        self.row[b + P_IKZDECK:b + P_IKZDECK + IKZ_DECK_SIZE] = 0
        self.row[b + P_IKZDECK:b + P_IKZDECK + len(ids)] = ids[::-1]
        self.row[b + P_IKZDECK_N] = len(ids)

    # -- the turn
    def main_phase(self, active: int = 0, turn: int = 3, first: int | None = None) -> "Scenario":
        """Main phase of ``turn`` for ``active``. ``first`` (the player of turn 1) defaults to
        what the turn number implies: ``active`` on odd turns."""
        assert active in (0, 1) and turn >= 1
        if first is None:
            first = active if turn % 2 == 1 else 1 - active
        self.row[G_PHASE] = PH_MAIN
        self.row[G_ACTIVE] = active
        self.row[G_TURN] = turn
        self.row[G_FIRST] = first
        return self

    # -- players
    def leader(self, p: int, name: str | None = None, hp: int | None = None, max_hp: int | None = None,
               used: bool = False) -> "Scenario":
        b = self._pb(p)
        if name is not None:
            self.row[b + P_LEADER] = self._id(name)
        if max_hp is not None:
            self.row[b + P_MAXHP] = max_hp
        self.row[b + P_HP] = self.row[b + P_MAXHP] if hp is None else hp
        self.row[b + P_LEADER_USED] = int(used)
        return self

    def token(self, p: int, has: bool = True) -> "Scenario":
        self.row[self._pb(p) + P_TOKEN] = int(has)
        return self

    def fatigue(self, p: int, n: int) -> "Scenario":
        self.row[self._pb(p) + P_FATIGUE] = n
        return self

    def ikz(self, p: int, n: int, tapped: int = 0) -> "Scenario":
        """``n`` Plain IKZ in player p's IKZ area, ``tapped`` of them tapped. Keeps the IKZ deck
        (trimmed to fit the 10 IKZ cards a player has)."""
        b = self._pb(p)
        k = int(self.row[b + P_IKZDECK_N])
        deck = [int(c) for c in self.row[b + P_IKZDECK:b + P_IKZDECK + k]][::-1]
        self._set_ikz(p, n, tapped, deck[:IKZ_DECK_SIZE - n])
        return self

    def ikz_deck(self, p: int, names) -> "Scenario":
        """Player p's IKZ deck, top (next to arrive) first."""
        b = self._pb(p)
        self._set_ikz(p, int(self.row[b + P_IKZ_N]), int(self.row[b + P_IKZ_TAPPED]), list(names))
        return self

    # -- zones
    def hand(self, p: int, names) -> "Scenario":
        ids = [self._id(x) for x in names]
        assert len(ids) <= HAND_MAX
        b = self._pb(p)
        self.row[b + P_HAND:b + P_HAND + HAND_MAX] = 0
        self.row[b + P_HAND:b + P_HAND + len(ids)] = ids
        self.row[b + P_HAND_N] = len(ids)
        return self

    def deck(self, p: int, names) -> "Scenario":
        """Player p's main deck, top (next draw) first."""
        ids = [self._id(x) for x in names]
        assert len(ids) <= DECK_SIZE
        b = self._pb(p)
        self.row[b + P_DECK:b + P_DECK + DECK_SIZE] = 0
        self.row[b + P_DECK:b + P_DECK + len(ids)] = ids[::-1]
        self.row[b + P_DECK_N] = len(ids)
        return self

    def discard(self, p: int, names) -> "Scenario":
        ids = [self._id(x) for x in names]
        b = self._pb(p)
        self.row[b + P_DISC:b + P_DISC + DISCARD_MAX] = 0
        self.row[b + P_DISC:b + P_DISC + len(ids)] = ids
        self.row[b + P_DISC_N] = len(ids)
        return self

    def unit(self, p: int, slot: int, name: str, *, atk: int | None = None, hp: int | None = None,
             max_hp: int | None = None, keywords: Keyword | None = None, ready: bool = True, sick: bool = False,
             moved: bool = False, used: bool = False, weapon: str | None = None) -> "Scenario":
        """Put ``name`` on player p's board ``slot`` (0-4 garden, 5-9 alley). Stats default to the
        printed ones; ``keywords`` replaces the printed keywords; a ``weapon`` is attached the way
        the engine attaches one (its keywords join the unit's)."""
        c = self.pool.by_name[name]
        u = self._sb(p, slot)
        self.row[u:u + B_WIDTH] = 0
        kw = int(c.keywords if keywords is None else keywords)
        w = 0
        if weapon is not None:
            wc = self.pool.by_name[weapon]
            w = wc.id
            kw |= int(wc.keywords)
        self.row[u + B_CARD] = c.id
        self.row[u + B_ATK] = c.attack if atk is None else atk
        self.row[u + B_MAXHP] = max(c.health if max_hp is None else max_hp, hp or 0)
        self.row[u + B_HP] = self.row[u + B_MAXHP] if hp is None else hp
        self.row[u + B_KW] = kw
        self.row[u + B_READY] = int(ready)
        self.row[u + B_SICK] = int(sick)
        self.row[u + B_MOVED] = int(moved)
        self.row[u + B_USED] = int(used)
        self.row[u + B_WEAPON] = w
        return self

    def garden_full(self, p: int, name: str = "Rivet Sentry", **kw) -> "Scenario":
        for slot in range(GARDEN_SLOTS):
            self.unit(p, slot, name, **kw)
        return self

    def build(self) -> GameState:
        return self.st


def hidden_cards_moved(a, b) -> bool:
    """Whether state rows ``a`` and ``b`` differ in some word other than the generator and seed
    words (which :func:`reshuffle_hidden` always rewrites): a card really changed place."""
    keep = np.ones(len(a), bool)
    keep[[G_RNG_LO, G_RNG_HI, G_SEED_LO, G_SEED_HI]] = False
    return not np.array_equal(np.asarray(a)[keep], np.asarray(b)[keep])


def reshuffle_hidden(g, me: int, rng):
    """The same information set for ``me``: the opponent's hand and deck swapped around within
    their pooled cards, every deck order and IKZ deck order shuffled, new generator words."""
    h = g.clone()
    s = h.row
    ob = pbase(1 - me)
    hand_n, deck_n = s[ob + P_HAND_N], s[ob + P_DECK_N]
    pool = np.concatenate([s[ob + P_HAND:ob + P_HAND + hand_n], s[ob + P_DECK:ob + P_DECK + deck_n]])
    rng.shuffle(pool)
    s[ob + P_HAND:ob + P_HAND + hand_n] = pool[:hand_n]
    s[ob + P_DECK:ob + P_DECK + deck_n] = pool[hand_n:]
    for p in (0, 1):
        b = pbase(p)
        rng.shuffle(s[b + P_DECK:b + P_DECK + s[b + P_DECK_N]])
        rng.shuffle(s[b + P_IKZDECK:b + P_IKZDECK + s[b + P_IKZDECK_N]])
    s[G_RNG_LO], s[G_RNG_HI], s[G_SEED_LO], s[G_SEED_HI] = rng.integers(-2 ** 31, 2 ** 31, size=4)
    return h


def random_play_states(n_games: int = 6, every: int = 5, seed: int = 0, game_seed: int = 700,
                       skip_mulligan: bool = False) -> list[GameState]:
    """Clones of real states from uniform random play (every ``every``-th decision with a choice;
    past the mulligans with ``skip_mulligan``): real decks, so their hidden zones determinize."""
    rng = np.random.default_rng(seed)
    out = []
    for game in range(n_games):
        g = GameState.new(None, None, seed=game_seed + game)
        step = 0
        while not g.done:
            legal = g.legal_tuples()
            if step % every == every // 2 and len(legal) > 1 and not (skip_mulligan and g.phase == PH_MULLIGAN):
                out.append(g.clone())
            g.apply(legal[rng.integers(len(legal))])
            step += 1
    return out



def random_position(rng, pool=None, block: float = 0.0, pend: float = 0.0) -> GameState:
    """A random hand-built position that conserves each player's cards: the rows a user editing
    a puzzle position could write. Two random prebuilt decks; each player's 30 deck cards are
    dealt at random to up to ten board units (any slot, garden or alley, with random attack,
    health up to a random maximum, extra keywords, a weapon from the same deck on some, and
    random ready/sick/moved/used flags), the hand, the discard and the deck, and its 10 IKZ
    cards to the IKZ area (some tapped) and IKZ deck. Leader health, the token, the leader
    ability, fatigue, the turn and the active player are random too.

    A main-phase position, or with probability ``block`` (where the active player has a unit)
    a response window: one of its units, now exhausted, attacks the enemy leader or a unit in
    the enemy garden, and the defender decides. With probability ``pend`` (where the active
    player owns a card that asks on play) it opens in a pending choice instead: a unit just
    played (printed stats, summoning sick) whose on-play ability waits for its target or mode,
    or a modal spell just cast (in the discard) waiting for its mode; a target choice with
    nothing to target stays in the main phase, as the engine leaves it. ``pend`` 0 draws
    nothing extra from ``rng``, so its positions are those of earlier versions."""
    from prefabs import CardType, default_decks
    from prefabs import table as T
    from prefabs.enums import TARGET_AUTO_MIN
    from verification.layout import (ATK_TGT_LEADER, IKZ_DECK_SIZE, MAX_STAT, P_DECKLIST, P_FELL, P_IKZLIST, PH_BLOCK,
                                     PH_CHOOSE_MODE, PH_CHOOSE_TARGET, TURN_CAP)
    pool = pool or default_pool()
    names = list(default_decks())
    g = GameState.new(names[rng.integers(len(names))], names[rng.integers(len(names))],
                      seed=int(rng.integers(2 ** 31)), pool=pool)
    g.apply(mulligan(KEEP_ALL))
    g.apply(mulligan(KEEP_ALL))
    sc = Scenario.__new__(Scenario)
    sc.pool, sc.st, sc.row = pool, g, g.row
    sc._blank()
    r = g.row
    sc.main_phase(active=int(rng.integers(2)), turn=int(rng.integers(1, TURN_CAP + 1)))
    bits = [int(k) for k in Keyword if int(k) and int(k) & (int(k) - 1) == 0]
    a = int(r[G_ACTIVE])
    play = slice(T.C_ABIL + T.SLOT_PLAY * T.ABIL_WIDTH, T.C_ABIL + (T.SLOT_PLAY + 1) * T.ABIL_WIDTH)

    def asks(c):   # a card whose playing leaves a choice pending: a unit's chosen target, any card's modes
        rule = int(pool.table[c, play][T.AB_TGT])
        return pool.table[c, T.C_NMODES] > 0 or (pool[c].type == CardType.UNIT and 1 <= rule < TARGET_AUTO_MIN)
    pending = pending_slot = None
    for p in range(2):
        b = sc._pb(p)
        rest = [int(c) for c in rng.permutation(r[b + P_DECKLIST:b + P_DECKLIST + DECK_SIZE])]
        slots = rng.permutation(BOARD_SLOTS)
        if pend and p == a and rng.random() < pend:
            choosers = [c for c in rest if asks(c)]
            if choosers:
                pending = choosers[rng.integers(len(choosers))]
                rest.remove(pending)
                if pool[pending].type == CardType.UNIT:   # just played: as the engine places it
                    pending_slot, slots = int(slots[0]), slots[1:]
                    sc.unit(p, pending_slot, pool[pending].name, sick=True)
        for slot in slots[:rng.integers(0, len(slots) + 1)]:
            units = [c for c in rest if pool[c].type == CardType.UNIT]
            if not units:
                break
            c = units[rng.integers(len(units))]
            rest.remove(c)
            kw = int(pool[c].keywords)
            for k in bits:
                if rng.random() < 0.1:
                    kw |= k
            weapons = [w for w in rest if pool[w].type == CardType.WEAPON]
            weapon = None
            if weapons and rng.random() < 0.4:
                weapon = weapons[rng.integers(len(weapons))]
                rest.remove(weapon)
            top = int(rng.integers(1, 12))
            sc.unit(p, int(slot), pool[c].name, atk=int(rng.integers(0, 9)), hp=int(rng.integers(1, top + 1)),
                    max_hp=top, keywords=Keyword(kw), ready=rng.random() < 0.7, sick=rng.random() < 0.3,
                    moved=rng.random() < 0.2, used=rng.random() < 0.2,
                    weapon=None if weapon is None else pool[weapon].name)
        n_hand = int(rng.integers(0, min(HAND_MAX, len(rest)) + 1))
        n_disc = int(rng.integers(0, len(rest) - n_hand + 1))
        spell = [pending] if p == a and pending is not None and pending_slot is None else []   # cast: in the discard
        sc.hand(p, rest[:n_hand]).discard(p, rest[n_hand:n_hand + n_disc] + spell).deck(p, rest[n_hand + n_disc:])
        ikz = [int(c) for c in rng.permutation(r[b + P_IKZLIST:b + P_IKZLIST + IKZ_DECK_SIZE])]
        n_area = int(rng.integers(0, IKZ_DECK_SIZE + 1))
        sc._set_ikz(p, n_area, int(rng.integers(0, n_area + 1)), ikz[n_area:])
        r[b + P_IKZ:b + P_IKZ + n_area] = ikz[:n_area]   # the player's own IKZ cards, not Plain IKZ
        sc.leader(p, hp=int(rng.integers(1, min(int(r[b + P_MAXHP]), MAX_STAT) + 1)),
                  used=rng.random() < 0.3).token(p, rng.random() < 0.5).fatigue(p, int(rng.integers(0, 4)))
        r[b + P_FELL] = 0
    if pending is not None:
        modes = pool.table[pending, T.C_NMODES] > 0
        r[[G_PHASE, G_PEND_PLAYER, G_PEND_CARD, G_PEND_SLOT]] = (PH_CHOOSE_MODE if modes else PH_CHOOSE_TARGET, a,
                                                                pending, -1 if pending_slot is None else pending_slot)
        if not modes:
            r[[G_PEND_EFF, G_PEND_A1, G_PEND_A2, G_PEND_TGT]] = pool.table[pending, play]
            if len(g.legal_tuples()) == 0:   # nothing to target: the ability did nothing
                r[[G_PHASE, G_PEND_PLAYER, G_PEND_CARD, G_PEND_SLOT, G_PEND_EFF, G_PEND_A1, G_PEND_A2,
                   G_PEND_TGT]] = PH_MAIN, 0, 0, -1, 0, 0, 0, 0
        return g
    mine = [k for k in range(BOARD_SLOTS) if r[sc._sb(a, k) + B_CARD]]
    if mine and rng.random() < block:
        src = mine[rng.integers(len(mine))]
        targets = [ATK_TGT_LEADER] + [k for k in range(GARDEN_SLOTS) if r[sc._sb(1 - a, k) + B_CARD]]
        r[sc._sb(a, src) + B_READY] = 0
        r[[G_PHASE, G_ATK_SRC, G_ATK_TGT]] = PH_BLOCK, src, targets[rng.integers(len(targets))]
    return g
