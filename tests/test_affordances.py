"""policy.affordances on hand-built legal lists (no game needed): which entity fills which pointer
slot, which primaries are legal, that only the first ``legal_count`` rows are read whatever
bytes lie past them, and that ``num_entities`` sizes the entity axis."""
from __future__ import annotations

import torch

from policy.affordances import AFFORD_SLOTS, NUM_AFFORD, affordances
from verification.spec import NUM_ENTITIES, NUM_PRIMARIES, Primary

_SLOT = {(int(p), j): i for i, (p, j) in enumerate(AFFORD_SLOTS)}

# one decision's legal list: a spell from hand 17 aimed at enemy unit 14, an attack by my unit 3
# on the enemy unit 12, a leader ability (head 1 is not a pointer; its 5 must flag nothing) aimed
# at 20, and END_TURN (no pointers at all)
_ROWS = [(int(Primary.PLAY_SPELL), 17, 14, 0),
         (int(Primary.ATTACK), 3, 12, 0),
         (int(Primary.LEADER_ABILITY), 5, 20, 1),
         (int(Primary.END_TURN), 0, 0, 0)]


def _expected(rows, E=NUM_ENTITIES):
    ent = torch.zeros(E, NUM_AFFORD)
    prim = torch.zeros(NUM_PRIMARIES)
    for t in rows:
        prim[t[0]] = 1
        for j in (1, 2):
            if (t[0], j) in _SLOT:
                ent[t[j], _SLOT[(t[0], j)]] = 1
    return ent, prim


def _batch(rows, width, pad, dtype=torch.int8):
    legal = torch.full((1, width, 4), pad, dtype=torch.long)
    legal[0, :len(rows)] = torch.tensor(rows)
    return legal.to(dtype), torch.tensor([len(rows)])


def test_hand_built_list_flags_exactly_its_pointer_slots():
    """Each pointer slot flags the entity it holds, under that primary; non-pointer heads (the
    leader ability's head 1, END_TURN's zeros) flag no entity; the primaries are the list's."""
    legal, cnt = _batch(_ROWS, 8, 0)
    ent, prim = affordances(legal, cnt)
    want_e, want_p = _expected(_ROWS)
    assert torch.equal(ent[0], want_e) and torch.equal(prim[0], want_p)
    assert int(ent.sum()) == 5   # spell sub1+sub2, attack sub1+sub2, leader ability sub2
    assert ent[0, 17, _SLOT[(int(Primary.PLAY_SPELL), 1)]] == 1
    assert ent[0, 14, _SLOT[(int(Primary.PLAY_SPELL), 2)]] == 1
    assert ent[0, 20, _SLOT[(int(Primary.LEADER_ABILITY), 2)]] == 1
    assert ent[0, 5].sum() == 0


def test_bytes_past_legal_count_are_never_read_whatever_they_are():
    """Padding past ``legal_count`` may hold any int8 bytes (a stale or never-written buffer):
    out-of-range primaries and entities there (127, -128, -1) neither crash nor change a flag, and
    an empty list (count 0) flags nothing. (Guards the primary clamp and the validity mask.)"""
    clean_e, clean_p = affordances(*_batch(_ROWS, 8, 0))
    for pad in (127, -128, -1, 13, 99):
        for dtype in (torch.int8, torch.long):
            ent, prim = affordances(*_batch(_ROWS, 8, pad, dtype))
            assert torch.equal(ent, clean_e) and torch.equal(prim, clean_p), (pad, dtype)
        legal = torch.full((2, 6, 4), pad, dtype=torch.int8)
        ent, prim = affordances(legal, torch.tensor([0, 0]))
        assert ent.sum() == 0 and prim.sum() == 0, pad


def test_num_entities_sizes_the_entity_axis():
    """``num_entities`` is honoured: a wider entity axis keeps every flag where it was and leaves
    the extra entities unflagged; the model passes its own entity count through it."""
    legal, cnt = _batch(_ROWS, 5, 0)
    base, prim = affordances(legal, cnt)
    wide, prim2 = affordances(legal, cnt, num_entities=NUM_ENTITIES + 8)
    assert wide.shape == (1, NUM_ENTITIES + 8, NUM_AFFORD)
    assert torch.equal(wide[:, :NUM_ENTITIES], base) and wide[:, NUM_ENTITIES:].sum() == 0
    assert torch.equal(prim, prim2)
    narrow, _ = affordances(legal, cnt, num_entities=24)
    assert narrow.shape == (1, 24, NUM_AFFORD)
    assert torch.equal(narrow, base[:, :24])


def test_rows_of_a_batch_are_independent():
    """Each batch row reads only its own list and count: row 1's tuples never flag row 0."""
    legal = torch.zeros(2, 6, 4, dtype=torch.int8)
    legal[0, :2] = torch.tensor(_ROWS[:2])
    legal[1, :2] = torch.tensor(_ROWS[2:])
    ent, prim = affordances(legal, torch.tensor([2, 2]))
    for b, rows in ((0, _ROWS[:2]), (1, _ROWS[2:])):
        we, wp = _expected(rows)
        assert torch.equal(ent[b], we) and torch.equal(prim[b], wp), b
