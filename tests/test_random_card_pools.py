"""Property test: card prefabs really are data. Any card pool the loader accepts plays.

Each pool is the shipped pool plus random new cards drawn through the public loader
(``prefabs.loader.parse_cards`` on raw ``[[card]]`` tables, as a cards file holds them):
tokens, units with random stats, keywords and on-play / on-death / on-attack / activated
abilities (MODE with random modes included), spells, weapons, IKZ cards with an arrival
effect and leaders with a random ability. The raw tables are drawn broadly, edge values at
the schema limits and values past them included; a table the loader refuses must be refused
with its typed ``PrefabError`` (a ``ValueError``) naming the card, never with another
exception. Random legal decks that hold the new cards then play random games to the end with
uniformly random legal tuples, and on every state: every invariant of ``check_invariants``
holds and the enumerator agrees with the independent explainer over the whole tuple product
space. The playouts run in a subprocess, so that a crash in a kernel is a failure, not the
end of the test run."""
import subprocess
import sys
from pathlib import Path

PLAYOUTS = r"""
import re
import sys
import numpy as np
root = sys.argv[1]
sys.path[:0] = [root, root + "/tests"]
from prefabs import CardPool, CardType, Deck, PrefabError, default_pool, validate_deck
from prefabs.enums import Effect, Keyword, LeaderSubtype, SpellSubtype, Target, UnitSubtype, WeaponSubtype
from prefabs.loader import MAX_KEYWORD_BITS, card_raw, parse_cards
from tcg_env import GameState
from tcg_env.selfcheck import check_invariants
from verification.crosscheck import crosscheck_state, new_scratch
from verification.layout import (B_CARD, G_PEND_CARD, P_HAND, P_IKZ, P_IKZ_N, P_LEADER, PH_CHOOSE_MODE,
                                 PH_CHOOSE_TARGET)
from verification.rules import pbase, sbase
from verification.spec import BOARD_SLOTS, ENT_MY_BOARD, ENT_MY_HAND, Primary

first, n_pools, n_games = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
keep_going = len(sys.argv) > 5 and sys.argv[5] == "sweep"   # ad-hoc sweeps: report every failure, go on
MAX_DECISIONS = 4000   # random play ends its turns often: the turn cap (50 turns) ends these games long before this

BASE = [card_raw(c) for c in default_pool().cards]
BASE_NAMES = {r["name"] for r in BASE}
BASE_TOKENS = [c.name for c in default_pool().cards if c.token]
EFFECTS = [e.name for e in Effect]
TARGETS = [t.name for t in Target]
KEYWORDS = [k.name for k in Keyword if k]
SUBTYPES = {kind: [s.name for s in enum] for kind, enum in
            (("UNIT", UnitSubtype), ("WEAPON", WeaponSubtype), ("SPELL", SpellSubtype), ("LEADER", LeaderSubtype))}
PLAYED_FROM_HAND = (int(Primary.PLAY_UNIT), int(Primary.PLAY_SPELL), int(Primary.ATTACH_WEAPON))
# a value past a schema limit, or of the wrong kind: drawn now and then instead of a valid one
JUNK = [-1, 11, 13, 41, 99, 2 ** 40, 1.5, True, None, "2", [], {}]


def pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def junk(rng, p, value):
    return pick(rng, JUNK) if rng.random() < p else value


def amount_for(rng, effect):
    if effect == "GRANT":
        return int(rng.integers(0, MAX_KEYWORD_BITS + 2))   # 0 and 32 are refused
    r = rng.random()
    if r < 0.15:
        return pick(rng, [0, 10])                           # the edges
    return int(rng.integers(1, 4))


def ability(rng, tokens, *, activated, bad):
    # effect and target mostly drawn together from rules that fit, sometimes wholly at random
    eff = pick(rng, EFFECTS)
    if rng.random() < 0.7:
        if eff in ("DRAW", "SUMMON", "GAIN_IKZ", "MODE", "NONE"):
            tgt = "NONE"
        elif eff in ("BUFF", "DESTROY", "GRANT"):
            tgt = pick(rng, ["ANY_UNIT", "ENEMY_UNIT", "FRIENDLY_UNIT", "SELF", "ALL_ENEMY_UNITS",
                             "ALL_FRIENDLY_UNITS", "ALL_UNITS", "RANDOM_ENEMY_UNIT"])
        else:
            tgt = pick(rng, TARGETS[1:])
    else:
        tgt = pick(rng, TARGETS)
    ab = {"effect": eff if rng.random() > 0.5 else eff.lower()}   # the loader takes any case
    if tgt != "NONE" or rng.random() < 0.5:
        ab["target"] = tgt
    if eff != "MODE" or rng.random() < 0.5:
        ab["amount"] = junk(rng, bad, amount_for(rng, eff))
    if eff == "BUFF" and rng.random() < 0.7:
        ab["amount2"] = junk(rng, bad, int(rng.integers(0, 4)) if rng.random() > 0.1 else 10)
    elif rng.random() < bad:
        ab["amount2"] = 1                                   # only BUFF takes it
    if eff == "SUMMON" or rng.random() < bad / 2:
        ab["token"] = pick(rng, tokens) if rng.random() > bad else pick(rng, ["No Such Token", "Scrapyard Mutt", 3])
    if activated and rng.random() > bad / 2:
        ab["cost"] = junk(rng, bad, int(rng.integers(0, 3)) if rng.random() > 0.1 else 10)
    if rng.random() < bad / 3:
        ab[pick(rng, ["targte", "cost", "amount3"])] = 1
    if rng.random() < bad / 4:
        ab["effect"] = pick(rng, ["FIREBALL", 1, None])
        if rng.random() < 0.5:
            del ab["effect"]
    return ab


def modes(rng, tokens, bad):
    n = int(rng.integers(2, 4)) if rng.random() > bad else pick(rng, [0, 1, 4])
    out = []
    for _ in range(n):
        m = ability(rng, tokens, activated=False, bad=bad)
        if rng.random() > bad and m.get("target") in ("ANY", "ANY_UNIT", "ENEMY_UNIT", "FRIENDLY_UNIT", "ENEMY_ANY"):
            m["target"] = pick(rng, ["ENEMY_LEADER", "ALL_ENEMY_UNITS", "RANDOM_ENEMY_UNIT", "SELF"])
        out.append(m)
    return out if rng.random() > bad / 3 else pick(rng, [None, "MODE", {"effect": "DRAW"}])


def random_card(rng, name, ctype, tokens, bad, token=False):
    raw = {"name": name, "type": ctype if rng.random() > 0.3 else ctype.lower()}
    if ctype != "IKZ" or rng.random() < bad / 2:
        raw["subtype"] = pick(rng, SUBTYPES.get(ctype, ["BEAST"])) if rng.random() > bad / 2 else "GOLEM"
    if ctype in ("UNIT", "WEAPON", "SPELL") and (not token or rng.random() < 0.3):
        # cheap, so that the new cards get played; now and then the edges 0 and 10
        raw["cost"] = junk(rng, bad, int(rng.integers(0, 4)) if rng.random() > 0.1 else pick(rng, [0, 10]))
    if ctype in ("UNIT", "WEAPON"):
        raw["attack"] = junk(rng, bad, int(rng.integers(0, 6)) if rng.random() > 0.1 else pick(rng, [0, 12]))
        if rng.random() < 0.5:
            kws = [pick(rng, KEYWORDS) for _ in range(int(rng.integers(1, 4)))]
            raw["keywords"] = kws if rng.random() > bad else pick(rng, [["FLYING"], "GUARD", [1]])
    if ctype == "UNIT":
        raw["health"] = junk(rng, bad, int(rng.integers(1, 6)) if rng.random() > 0.1 else pick(rng, [1, 12]))
    if ctype == "LEADER":
        raw["health"] = junk(rng, bad, int(rng.integers(10, 41)) if rng.random() > 0.2 else pick(rng, [10, 40]))
    if token:
        raw["token"] = True if rng.random() > bad else pick(rng, ["yes", 1])
    keys = {"UNIT": ["on_play", "on_death", "on_attack", "activated"], "SPELL": ["effect"],
            "IKZ": ["on_arrival"], "LEADER": ["ability"], "WEAPON": []}[ctype]
    for k in keys:
        if ctype != "UNIT" or rng.random() < 0.45:
            raw[k] = ability(rng, tokens, activated=k in ("activated", "ability"), bad=bad)
            if rng.random() < bad / 4:
                raw[k] = pick(rng, ["DRAW", 3, None, []])
    if rng.random() < 0.5 and ctype in ("UNIT", "SPELL"):   # MODE is sometimes forced on
        k = "on_play" if ctype == "UNIT" else "effect"
        raw[k] = {"effect": "MODE", "target": "NONE"} if rng.random() > bad else {"effect": "MODE", "amount": 2}
    if any(isinstance(raw.get(k), dict) and str(raw[k].get("effect", "")).upper() == "MODE" for k in keys) \
            or rng.random() < bad / 4:
        raw["modes"] = modes(rng, tokens, bad)
    if rng.random() < 0.1:
        raw["flavor"] = "fuzzed" if rng.random() > bad else 7
    if rng.random() < bad / 4:
        raw[pick(rng, ["on_draw", "mana", "attack", "health", "token", "keywords", "cost"])] = 1
    if rng.random() < bad / 6:   # a bad name or type: empty, not text, a duplicate, missing
        raw[pick(rng, ["name", "type"])] = pick(rng, ["", "  ", 7, None, "Sprout", "NONE", "GADGET"])
        if rng.random() < 0.3:
            del raw["type"]
    return raw


def message_key(msg):
    # a refusal's message without the card's name and the values, to count refusals by kind
    msg = re.sub(r"^card '[^']*'(\.\w+(\[\d\])?)*(\.\w+)?(\s\([^)]*\))?: ", "", msg)
    msg = msg.split("; allowed")[0].split(" (0..")[0].replace("'s ", "`s ")
    msg = re.sub(r"'[^']*'|\"[^\"]*\"|-?\d+(\.\d+)?|\[[^\]]*\]|\{[^}]*\}|None|True|False", "_", msg)
    return re.sub(r"\b[A-Z][A-Z_]{2,}\b", "X", msg)[:90]


def make_pool(rng, pool_no):
    # accepted raw cards, refusals by kind, loader defects (anything but PrefabError)
    raw = list(BASE)
    refusals, defects = {}, []
    plan = ["TOKEN"] * int(rng.integers(1, 4)) + ["UNIT"] * int(rng.integers(5, 10)) + \
        ["SPELL"] * int(rng.integers(2, 6)) + ["WEAPON"] * int(rng.integers(1, 3)) + \
        ["IKZ"] * int(rng.integers(0, 3)) + ["LEADER"] * int(rng.integers(0, 2))
    token_names = [f"P{pool_no} {k} TOKEN" for k in range(plan.count("TOKEN"))]
    tokens = token_names + BASE_TOKENS
    n_tok = 0
    for k, kind in enumerate(plan):
        for attempt in range(40):
            name = token_names[n_tok] if kind == "TOKEN" else f"P{pool_no} {k} {kind}"
            bad = 0.04 if attempt % 2 else 0.25   # odd tries mostly valid, even tries probe the schema
            card = random_card(rng, name, "UNIT" if kind == "TOKEN" else kind, tokens, bad, token=kind == "TOKEN")
            try:
                parse_cards(raw + [card])
            except PrefabError as e:
                key = message_key(str(e))
                refusals[key] = refusals.get(key, 0) + 1
                shown = card.get("name") if isinstance(card.get("name"), str) else None
                if not (shown and f"card '{shown}'" in str(e)) and "card #" not in str(e):
                    defects.append(f"refusal does not name the card: {e} <- {card!r}")
                continue
            except Exception as e:   # noqa: BLE001: any other exception type is the defect
                defects.append(f"{type(e).__name__}: {e} <- {card!r}")
                continue
            raw.append(card)
            break
        else:
            if kind == "TOKEN":   # a SUMMON naming it is refused then; fine, but keep the names apart
                tokens.remove(token_names[n_tok])
        if kind == "TOKEN":
            n_tok += 1
    # tokens that no accepted card names are still fine; the pool must build and compile
    cards = parse_cards(raw)
    try:
        pool = CardPool(cards)
    except Exception as e:   # noqa: BLE001
        defects.append(f"parse_cards accepted but CardPool refused ({type(e).__name__}: {e})")
        return None, raw, refusals, defects
    return pool, raw, refusals, defects


def random_deck(rng, pool, new_ids):
    cards = pool.cards
    leaders = [c.name for c in cards if c.type == CardType.LEADER]
    new_leaders = [cards[i - 1].name for i in new_ids if cards[i - 1].type == CardType.LEADER]
    leader = pick(rng, new_leaders) if new_leaders and rng.random() < 0.7 else pick(rng, leaders)
    mainable = [c for c in cards if c.type in (CardType.UNIT, CardType.WEAPON, CardType.SPELL) and not c.token]
    new_main = [c.name for c in mainable if c.id in new_ids]
    old_main = [c.name for c in mainable if c.id not in new_ids]
    main = []
    for name in rng.permutation(new_main).tolist():   # most of the deck is new cards
        if len(main) < 24:
            main += [name] * int(rng.integers(2, 4))
    main = main[:24]
    counts = {n: main.count(n) for n in main}
    while len(main) < 30:
        n = pick(rng, old_main)
        if counts.get(n, 0) < 3:
            counts[n] = counts.get(n, 0) + 1
            main.append(n)
    ikzs = [c.name for c in cards if c.type == CardType.IKZ]
    new_ikz = [cards[i - 1].name for i in new_ids if cards[i - 1].type == CardType.IKZ]
    ikz = [pick(rng, new_ikz) if new_ikz and rng.random() < 0.5 else pick(rng, ikzs) for _ in range(10)]
    deck = Deck(name="fuzz", plan="", leader=leader, main=tuple(rng.permutation(main).tolist()), ikz=tuple(ikz))
    validate_deck(deck, pool)
    return deck


legal, listed = new_scratch()
c = dict(pools=0, games=0, finished=0, states=0, new_cards=0, refused=0, played=0, activated=0, leader=0,
         pending=0, tokens=0, arrivals=0, failures=0, max_decisions=0)
refusals_all = {}
played_ids = set()
for pool_no in range(first, first + n_pools):
    rng = np.random.default_rng(pool_no)
    pool, raw, refusals, defects = make_pool(rng, pool_no)
    c["refused"] += sum(refusals.values())
    for k, v in refusals.items():
        refusals_all[k] = refusals_all.get(k, 0) + v
    for d in defects:
        c["failures"] += 1
        print("LOADER DEFECT pool", pool_no, d, file=sys.stderr)
    assert keep_going or not defects, defects
    if pool is None:
        continue
    c["pools"] += 1
    new_ids = set(range(len(BASE) + 1, len(pool) + 1))
    c["new_cards"] += len(new_ids)
    for game in range(n_games):
        deck0, deck1 = random_deck(rng, pool, new_ids), random_deck(rng, pool, new_ids)
        seed = int(rng.integers(2 ** 63))
        g = GameState.new(deck0, deck1, seed=seed, pool=pool)
        c["games"] += 1
        seen_tokens, seen_ikz = set(), set()
        try:
            for step in range(MAX_DECISIONS):
                bad = check_invariants(g)
                assert not bad, ("invariants", bad[:3])
                n, mismatches, f0, f1, f2, f3, order = crosscheck_state(g.row, g.pool.table, legal, listed)
                assert mismatches == 0 and order == 0, ("crosscheck", mismatches, (f0, f1, f2, f3), order)
                c["states"] += 1
                r = g.row
                for p in (0, 1):   # new tokens on the board, new IKZ cards arrived
                    for slot in range(BOARD_SLOTS):
                        cid = int(r[sbase(p, slot) + B_CARD])
                        if cid in new_ids and pool[cid].token:
                            seen_tokens.add((p, slot, cid))
                    b = pbase(p)
                    seen_ikz.update((p, int(x)) for x in r[b + P_IKZ:b + P_IKZ + r[b + P_IKZ_N]] if int(x) in new_ids)
                if g.done:
                    c["finished"] += 1
                    break
                if g.phase in (PH_CHOOSE_TARGET, PH_CHOOSE_MODE) and int(r[G_PEND_CARD]) in new_ids:
                    c["pending"] += 1
                lt = g.legal_tuples()
                a = tuple(int(x) for x in lt[rng.integers(len(lt))])
                p = g.current_player
                if a[0] in PLAYED_FROM_HAND:   # the card leaves the hand
                    cid = int(r[pbase(p) + P_HAND + a[1] - ENT_MY_HAND])
                    if cid in new_ids:
                        c["played"] += 1
                        played_ids.add((pool_no, cid))
                elif a[0] == int(Primary.ACTIVATE) and int(r[sbase(p, a[1] - ENT_MY_BOARD) + B_CARD]) in new_ids:
                    c["activated"] += 1
                elif a[0] == int(Primary.LEADER_ABILITY) and int(r[pbase(p) + P_LEADER]) in new_ids:
                    c["leader"] += 1
                g.apply(a)
            else:
                raise AssertionError(("no end", MAX_DECISIONS))
        except Exception as e:   # noqa: BLE001
            c["failures"] += 1
            print("ENGINE FAILURE pool", pool_no, "game", game, "seed", seed, "step", step, repr(e)[:600],
                  file=sys.stderr)
            if not keep_going:
                raise
        c["max_decisions"] = max(c["max_decisions"], step)
        c["tokens"] += len({cid for _, _, cid in seen_tokens})
        c["arrivals"] += len(seen_ikz)
c["played_distinct"] = len(played_ids)
c["refusal_kinds"] = len(refusals_all)
for k in sorted(refusals_all, key=lambda k: -refusals_all[k]):
    print(f"REFUSAL {refusals_all[k]:6d} {k}", file=sys.stderr)
print(" ".join(f"{k}={v}" for k, v in c.items()))
"""


def run_playouts(first: int, n_pools: int, n_games: int, *extra: str, timeout: int = 900):
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", PLAYOUTS, str(root), str(first), str(n_pools), str(n_games), *extra],
                         capture_output=True, text=True, timeout=timeout)
    return res


def test_random_card_pools_play_to_the_end_with_every_invariant_and_the_explainer_agreeing():
    # 8 pools of the shipped cards plus 10-20 random new ones, 2 games each (about 2,500 states)
    res = run_playouts(0, 8, 2)
    assert res.returncode == 0, (res.returncode, res.stderr[-3000:])
    counts = {k: int(v) for k, v in (kv.split("=") for kv in res.stdout.split())}
    assert counts["failures"] == 0, res.stderr[-3000:]
    assert counts["pools"] == 8 and counts["games"] == 16
    assert counts["finished"] == 16          # every game reached its end
    assert counts["states"] > 1800           # with every state on the way checked
    assert counts["max_decisions"] < 1000    # no game came near the step bound
    assert counts["new_cards"] >= 100        # the loader accepted the new cards of each pool
    assert counts["refused"] >= 400          # and refused many drawn tables, each with PrefabError
    assert counts["refusal_kinds"] >= 20     # for many different reasons
    assert counts["played"] >= 300           # the new cards were played from hand
    assert counts["played_distinct"] >= 60   # many different ones
    assert counts["pending"] >= 60           # their on-play targets and modes were chosen
    assert counts["activated"] >= 50         # their activated abilities used
    assert counts["leader"] >= 30            # new leaders' abilities used
    assert counts["tokens"] >= 6             # new tokens summoned
    assert counts["arrivals"] >= 12          # new IKZ cards arrived
