"""Column layout of the compiled card table (``int32[num_cards, CARD_FIELDS]``).

Row 0 is the empty card. Ability slots follow ``prefabs.enums.Trigger`` order; each
slot is four columns (effect, a1, a2, target rule).
"""
from .enums import Keyword

CARD_TABLE_VERSION = 1

C_TYPE = 0
C_SUBTYPE = 1
C_COST = 2
C_ATK = 3          # unit attack, or a weapon's attack bonus
C_HP = 4           # unit health, or a leader's starting health
C_KW = 5           # keyword bits (a weapon's are granted to the unit it is attached to)
C_TOKEN = 6        # 1 for summon-only token units
C_ABIL = 7         # 4 ability slots x 4 columns: PLAY, DEATH, ATTACK, ACTIVATED
C_ACT_COST = 23    # IKZ cost of the ACTIVATED ability (unit or leader)
C_NMODES = 24
C_MODES = 25       # MAX_MODES x 4 columns (effect, a1, a2, target rule)
C_VIEW = 37        # VIEW_WIDTH columns: the card as an observation entity row shows it in hand

# The features of one observation entity row (``tcg_env.observation`` re-exports these).
# They are defined here because the compiled table carries each card's printed features
# in this order (columns C_VIEW...), so writing an observation row is one copy plus the
# few fields that change in play.
ENTITY_FEATURES = (
    "present", "card_id", "owner", "zone", "zone_slot", "card_type", "subtype", "cost", "attack", "health",
    "max_health", "guard", "charge", "ranged", "lifesteal", "shield", "ready", "arrived_this_turn", "moved",
    "ability_used", "weapon_card", "weapon_bonus", "has_ability", "ability_cost",
)
VIEW_WIDTH = len(ENTITY_FEATURES)
assert [int(k) for k in (Keyword.GUARD, Keyword.CHARGE, Keyword.RANGED, Keyword.LIFESTEAL, Keyword.SHIELD)] == \
    [1 << k for k in range(5)], "the view columns and write_obs read keyword k as bit k"
ZONE_HAND = 4      # the ``zone`` feature of a card in hand
CARD_FIELDS = C_VIEW + VIEW_WIDTH

AB_EFF = 0
AB_A1 = 1
AB_A2 = 2
AB_TGT = 3
ABIL_WIDTH = 4

SLOT_PLAY = 0
SLOT_DEATH = 1
SLOT_ATTACK = 2
SLOT_ACT = 3

# Named columns (the same numbers as ability_col(slot, field)), for the numba code.
C_PLAY_EFF, C_PLAY_A1, C_PLAY_A2, C_PLAY_TGT = 7, 8, 9, 10
C_DEATH_EFF, C_DEATH_A1, C_DEATH_A2, C_DEATH_TGT = 11, 12, 13, 14
C_ATTACK_EFF, C_ATTACK_A1, C_ATTACK_A2, C_ATTACK_TGT = 15, 16, 17, 18
C_ACT_EFF, C_ACT_A1, C_ACT_A2, C_ACT_TGT = 19, 20, 21, 22


def ability_col(slot: int, field: int) -> int:
    return C_ABIL + slot * ABIL_WIDTH + field


def mode_col(mode: int, field: int) -> int:
    return C_MODES + mode * ABIL_WIDTH + field


assert ability_col(SLOT_ACT, AB_TGT) == C_ACT_TGT and ability_col(SLOT_PLAY, AB_EFF) == C_PLAY_EFF
assert mode_col(2, AB_TGT) == C_VIEW - 1
