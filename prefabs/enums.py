"""Enumerations shared by card prefabs, the engine and verification.

Every value here is part of the data contract: the engine stores these integers
in its state arrays and observations, so renumbering is a breaking change (bump
``verification.spec.ACTION_SPEC_VERSION`` / ``prefabs.table.CARD_TABLE_VERSION``).
"""
from enum import IntEnum, IntFlag


class CardType(IntEnum):
    NONE = 0
    UNIT = 1
    WEAPON = 2
    SPELL = 3
    IKZ = 4
    LEADER = 5


class UnitSubtype(IntEnum):
    BEAST = 1
    DRAGON = 2
    KNIGHT = 3
    SPIRIT = 4
    CONSTRUCT = 5
    ROGUE = 6


class WeaponSubtype(IntEnum):
    BLADE = 1
    BOW = 2
    STAFF = 3
    HAMMER = 4


class SpellSubtype(IntEnum):
    BOLT = 1      # direct damage
    RITE = 2      # buffs and healing
    HEX = 3       # removal
    SCHEME = 4    # card draw and resources
    CHARM = 5     # modal ("choose one")


class LeaderSubtype(IntEnum):
    WARLORD = 1
    SAGE = 2
    SMITH = 3
    WARDEN = 4


SUBTYPES = {
    CardType.UNIT: UnitSubtype,
    CardType.WEAPON: WeaponSubtype,
    CardType.SPELL: SpellSubtype,
    CardType.LEADER: LeaderSubtype,
}


class Keyword(IntFlag):
    NONE = 0
    GUARD = 1       # enemy attacks must target a GUARD unit in the garden if one exists
    CHARGE = 2      # may attack the turn it arrives
    RANGED = 4      # may attack from the alley, and takes no retaliation when it does
    LIFESTEAL = 8   # combat damage it deals heals its leader by that much
    SHIELD = 16     # the next damage it would take is prevented, then SHIELD is lost


KEYWORD_ORDER = (Keyword.GUARD, Keyword.CHARGE, Keyword.RANGED, Keyword.LIFESTEAL, Keyword.SHIELD)


class Effect(IntEnum):
    NONE = 0
    DAMAGE = 1        # a1 damage to each target
    HEAL = 2          # restore a1 health (never above maximum)
    BUFF = 3          # +a1 attack and +a2 health (and maximum health)
    DESTROY = 4       # destroy target unit (SHIELD does not stop it)
    DRAW = 5          # controller draws a1 cards
    SUMMON = 6        # controller summons a2 copies of token card a1
    GAIN_IKZ = 7      # controller puts the top a1 IKZ cards of the IKZ deck into the IKZ area, ready
    MODE = 8          # controller chooses one of the card's modes (a bin choice)
    GRANT = 9         # target unit gains keyword bits a1


class Target(IntEnum):
    """Target rules. Values below ``AUTO_MIN`` are chosen by the player (an entity pointer)."""
    NONE = 0               # no target (effects on the controller: DRAW, SUMMON, GAIN_IKZ, MODE)
    ANY = 1                # any unit or leader
    ANY_UNIT = 2
    ENEMY_UNIT = 3
    FRIENDLY_UNIT = 4
    ENEMY_ANY = 5          # an enemy unit or the enemy leader
    SELF = 10              # the unit that owns the ability
    OWN_LEADER = 11
    ENEMY_LEADER = 12
    ALL_ENEMY_UNITS = 13
    ALL_FRIENDLY_UNITS = 14
    ALL_UNITS = 15
    RANDOM_ENEMY_UNIT = 16


TARGET_AUTO_MIN = 10
CHOSEN_TARGETS = (Target.ANY, Target.ANY_UNIT, Target.ENEMY_UNIT, Target.FRIENDLY_UNIT, Target.ENEMY_ANY)


class Trigger(IntEnum):
    """Ability slots of a card. PLAY is also a spell's effect and an IKZ card's arrival effect;
    ACTIVATED is also a leader's ability."""
    PLAY = 0
    DEATH = 1
    ATTACK = 2
    ACTIVATED = 3
