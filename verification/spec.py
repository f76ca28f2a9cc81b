"""The action tuple: primary enum, ``ACTION_SPEC`` and the entity pointer layout.

An action is four small integers ``(primary, sub1, sub2, sub3)``. ``ACTION_SPEC``
says, for each primary, what every sub-slot means. A slot a primary does not use
is always 0 and is never a choice. Head sizes are fixed constants.

Entity pointers index the acting player's entity table (the same rows as the
observation's entity view):

====== ===============================================
index  entity
====== ===============================================
0      your leader
1      enemy leader
2-6    your garden slots 0-4
7-11   your alley slots 0-4 (board slots 5-9)
12-16  enemy garden slots 0-4
17-21  enemy alley slots 0-4 (board slots 5-9)
22-31  your hand positions 0-9
====== ===============================================
"""
from enum import IntEnum
from typing import NamedTuple

ACTION_SPEC_VERSION = 1

# --- board and entity geometry -------------------------------------------------
GARDEN_SLOTS = 5
ALLEY_SLOTS = 5
BOARD_SLOTS = GARDEN_SLOTS + ALLEY_SLOTS   # board slot 0-4 garden, 5-9 alley
HAND_MAX = 10

ENT_MY_LEADER = 0
ENT_OPP_LEADER = 1
ENT_MY_BOARD = 2          # + board slot (0-9)
ENT_OPP_BOARD = 12        # + board slot (0-9)
ENT_MY_HAND = 22          # + hand position (0-9)
NUM_ENTITIES = 32

MULLIGAN_HAND = 5          # opening hand size; the mulligan bin is a bitmask over it
MULLIGAN_BINS = 1 << MULLIGAN_HAND
MAX_MODES = 3


class Primary(IntEnum):
    END_TURN = 0
    MULLIGAN = 1
    PLAY_UNIT = 2
    PLAY_SPELL = 3
    ATTACH_WEAPON = 4
    ATTACK = 5
    BLOCK = 6
    NO_BLOCK = 7
    ACTIVATE = 8
    LEADER_ABILITY = 9
    MOVE = 10
    CHOOSE_TARGET = 11
    CHOOSE_MODE = 12


NUM_PRIMARIES = len(Primary)


class SlotKind(IntEnum):
    UNUSED = 0
    POINTER = 1   # an entity index (see the table above)
    BIN = 2       # a small categorical value (a bitmask, a board slot, a mode, yes/no)


class SlotSpec(NamedTuple):
    kind: SlotKind
    size: int       # how many values the slot can take (1 when unused)
    meaning: str


_U = SlotSpec(SlotKind.UNUSED, 1, "unused (always 0)")
_TOKEN = SlotSpec(SlotKind.BIN, 2, "use the IKZ token: 0 no, 1 yes")
_HAND = SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "card in your hand (entity 22-31)")
_MYUNIT = SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "your unit (entity 2-11)")
_TARGET = SlotSpec(SlotKind.POINTER, NUM_ENTITIES,
                   "target entity per the card's target rule; 0 when the card takes no target")

ACTION_SPEC = {
    Primary.END_TURN: (_U, _U, _U),
    Primary.MULLIGAN: (SlotSpec(SlotKind.BIN, MULLIGAN_BINS,
                                "bitmask of opening-hand positions to replace (bit i = hand position i)"), _U, _U),
    Primary.PLAY_UNIT: (_HAND, SlotSpec(SlotKind.BIN, BOARD_SLOTS, "empty board slot: 0-4 garden, 5-9 alley"), _TOKEN),
    Primary.PLAY_SPELL: (_HAND, _TARGET, _TOKEN),
    Primary.ATTACH_WEAPON: (_HAND, SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "your unit to equip (entity 2-11)"), _TOKEN),
    Primary.ATTACK: (SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "attacking unit (entity 2-11)"),
                     SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "enemy leader (1) or enemy garden unit (12-16)"), _U),
    Primary.BLOCK: (SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "your blocking garden unit (entity 2-6)"), _U, _U),
    Primary.NO_BLOCK: (_U, _U, _U),
    Primary.ACTIVATE: (_MYUNIT, _TARGET, _TOKEN),
    Primary.LEADER_ABILITY: (_U, _TARGET, _TOKEN),
    Primary.MOVE: (_MYUNIT, SlotSpec(SlotKind.BIN, BOARD_SLOTS, "empty destination board slot in the other row"), _U),
    Primary.CHOOSE_TARGET: (_U, SlotSpec(SlotKind.POINTER, NUM_ENTITIES, "target of the pending triggered effect"), _U),
    Primary.CHOOSE_MODE: (_U, SlotSpec(SlotKind.BIN, MAX_MODES, "mode of the pending modal effect"), _U),
}

# Fixed head sizes: head 0 is the primary, heads 1-3 the sub-slots.
HEAD_SIZES = (
    NUM_PRIMARIES,
    max(spec[0].size for spec in ACTION_SPEC.values()),
    max(spec[1].size for spec in ACTION_SPEC.values()),
    max(spec[2].size for spec in ACTION_SPEC.values()),
)

# Integer table for numba and torch: SLOT_KIND[p, j] and SLOT_SIZE[p, j] for sub-slot j (0-2).
import numpy as _np  # noqa: E402

SLOT_KIND = _np.array([[int(ACTION_SPEC[Primary(p)][j].kind) for j in range(3)] for p in range(NUM_PRIMARIES)],
                      dtype=_np.int8)
SLOT_SIZE = _np.array([[ACTION_SPEC[Primary(p)][j].size for j in range(3)] for p in range(NUM_PRIMARIES)],
                      dtype=_np.int16)

# --- proven capacity of the legal list -------------------------------------
# The main phase is the only phase with more than MULLIGAN_BINS options. Summing every
# primary's product of reachable values there (each an over-count) bounds the list:
#   END_TURN 1
#   PLAY_UNIT      hand(10) x empty slot(10) x token(2)          = 200
#   PLAY_SPELL     hand(10) x target(22: leaders + 20 units) x 2 = 440
#   ATTACH_WEAPON  hand(10) x your unit(10) x 2                  = 200
#   ATTACK         attacker(10) x (enemy garden 5 + leader 1)    = 60
#   ACTIVATE       your unit(10) x target(22) x 2                = 440
#   LEADER_ABILITY target(22) x 2                                = 44
#   MOVE           your unit(10) x slot in the other row(5)      = 50
# A hand position is either a unit, a spell or a weapon, so the true maximum is lower;
# the sum is still a valid bound and sizes the fixed buffer.
_TARGETABLE = 2 + 2 * BOARD_SLOTS
MAX_LEGAL = (1 + HAND_MAX * BOARD_SLOTS * 2 + HAND_MAX * _TARGETABLE * 2 + HAND_MAX * BOARD_SLOTS * 2
             + BOARD_SLOTS * (GARDEN_SLOTS + 1) + BOARD_SLOTS * _TARGETABLE * 2 + _TARGETABLE * 2
             + BOARD_SLOTS * GARDEN_SLOTS)
assert MAX_LEGAL >= MULLIGAN_BINS


def entity_name(e: int) -> str:
    """A short human name for an entity pointer, from the acting player's view."""
    if e == ENT_MY_LEADER:
        return "your leader"
    if e == ENT_OPP_LEADER:
        return "enemy leader"
    if ENT_MY_BOARD <= e < ENT_OPP_BOARD:
        s = e - ENT_MY_BOARD
        return f"your {'garden' if s < GARDEN_SLOTS else 'alley'} slot {s % GARDEN_SLOTS}"
    if ENT_OPP_BOARD <= e < ENT_MY_HAND:
        s = e - ENT_OPP_BOARD
        return f"enemy {'garden' if s < GARDEN_SLOTS else 'alley'} slot {s % GARDEN_SLOTS}"
    if ENT_MY_HAND <= e < NUM_ENTITIES:
        return f"hand card {e - ENT_MY_HAND}"
    return f"<entity {e} out of range 0-{NUM_ENTITIES - 1}>"
