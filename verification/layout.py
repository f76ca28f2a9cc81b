"""Word layout of one game's state row (``int32[STATE_SIZE]``).

A batch of games is ``int32[N, STATE_SIZE]``; cloning a game is copying a row and
serialising it is ``row.tobytes()`` behind a small header (see ``tcg_env.state``).
Card ids are rows of the compiled card table; 0 means empty.
"""
from .spec import BOARD_SLOTS, HAND_MAX

STATE_LAYOUT_VERSION = 1

DECK_SIZE = 30
IKZ_DECK_SIZE = 10
DISCARD_MAX = DECK_SIZE

# phases
PH_MULLIGAN = 0
PH_MAIN = 1
PH_BLOCK = 2         # the defender's response window
PH_CHOOSE_TARGET = 3  # a triggered effect waits for its controller's target
PH_CHOOSE_MODE = 4    # a modal effect waits for its controller's mode
PH_OVER = 5

# G_DONE values
DONE_NO = 0
DONE_TERMINAL = 1
DONE_TRUNCATED = 2

ATK_TGT_LEADER = BOARD_SLOTS   # G_ATK_TGT value meaning "the defending leader"

# --- global words ---
G_PHASE = 0
G_ACTIVE = 1        # whose turn it is
G_TURN = 2          # 1-based turn counter (both players' turns count)
G_FIRST = 3         # the player who took turn 1
G_DONE = 4
G_WINNER = 5        # -1 none, 0 or 1, 2 for a draw
G_DECISIONS = 6     # decisions taken this game
G_RNG_LO = 7        # per-game xorshift64* state, low and high 32 bits
G_RNG_HI = 8
G_ATK_SRC = 9       # attacking board slot (attacker belongs to G_ACTIVE), -1 none
G_ATK_TGT = 10      # attacked board slot of the defender, or ATK_TGT_LEADER
G_PEND_PLAYER = 11
G_PEND_CARD = 12    # card whose effect is pending
G_PEND_SLOT = 13    # board slot of the source unit, -1 if none
G_PEND_EFF = 14
G_PEND_A1 = 15
G_PEND_A2 = 16
G_PEND_TGT = 17
G_MULL_PLAYER = 18  # who is deciding the mulligan
G_EPISODE = 19      # games played in this row (auto-reset counter)
G_SEED_LO = 20      # seed this game started from (for replays)
G_SEED_HI = 21
GLOBAL_WORDS = 24

# --- per-player block ---
P_HP = 0
P_MAXHP = 1
P_FATIGUE = 2
P_TOKEN = 3         # 1 while the one-use IKZ token is unspent
P_LEADER_USED = 4
P_LEADER = 5        # leader card id
P_IKZ_N = 6         # IKZ cards in the IKZ area
P_IKZ_TAPPED = 7
P_IKZDECK_N = 8
P_DECK_N = 9
P_HAND_N = 10
P_DISC_N = 11
P_MULLIGANED = 12
P_FELL = 13         # 1 once the leader reached 0 health: it has lost, no heal revives it
P_IKZ = 16                              # IKZ area card ids
P_IKZDECK = P_IKZ + IKZ_DECK_SIZE       # IKZ deck, top = index n-1
P_DECK = P_IKZDECK + IKZ_DECK_SIZE      # main deck, top = index n-1
P_HAND = P_DECK + DECK_SIZE
P_DISC = P_HAND + HAND_MAX
P_BOARD = P_DISC + DISCARD_MAX

# board slot fields
B_CARD = 0
B_ATK = 1           # attack without the weapon bonus
B_HP = 2
B_MAXHP = 3
B_KW = 4            # keyword bits the unit has: printed, granted, and those of every weapon attached to it
B_READY = 5
B_SICK = 6          # arrived this turn
B_MOVED = 7
B_USED = 8          # activated ability used this turn
B_WEAPON = 9        # attached weapon card id, 0 none
B_WIDTH = 10

P_DECKLIST = P_BOARD + BOARD_SLOTS * B_WIDTH   # the 30 main-deck card ids (for resets)
P_IKZLIST = P_DECKLIST + DECK_SIZE             # the 10 IKZ card ids
PLAYER_WORDS = P_IKZLIST + IKZ_DECK_SIZE

P0 = GLOBAL_WORDS
STATE_SIZE = GLOBAL_WORDS + 2 * PLAYER_WORDS

MAX_STAT = 99          # attack and health are clamped to 0..MAX_STAT
TURN_CAP = 50          # a game still running when turn TURN_CAP ends is truncated
DECISION_CAP = 10_000  # a game whose decision count reaches this is truncated at once: with a custom
                       # pool's chains of CHARGE tokens a turn has no smaller bound
