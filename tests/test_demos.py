"""Demonstration files: what was played is what is read back; appends check versions;
damaged or unfinished files raise typed errors that say where; writes are atomic."""
import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tcg_env import GameState
from training import demos as D
from training.cli import main as tcg

pytestmark = pytest.mark.usefixtures("one_torch_thread")   # the checkpoint-bot test runs torch

GAMES = 12


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("demos") / "h.demos"
    # small chunks and fewer parallel rows than games: several chunks, rows that restart games
    D.write_demos(path, "heuristic", GAMES, seed=3, parallel=5, chunk_records=300)
    return path


def _layout(path):
    """(data_start, [(chunk offset, payload length)], end offset) parsed independently of the reader."""
    b = Path(path).read_bytes()
    hlen = struct.unpack_from("<I", b, 8)[0]
    off = 8 + 4 + hlen + 4
    chunks = []
    while b[off:off + 4] == b"CHNK":
        plen = struct.unpack_from("<Q", b, off + 16)[0]
        chunks.append((off, plen))
        off += 32 + plen
    assert b[off:off + 4] == b"DEND" and off + 32 == len(b)
    return 8 + 4 + hlen + 4, chunks, off


def test_round_trip_replays_every_game(demo_file):
    d = D.load_demos(demo_file)
    assert d.header["sessions"][0]["bot"] == "heuristic" and d.header["version"] == D.VERSION
    assert list(d.game_id) == list(range(GAMES)) and len(d) == int(d.game_length.sum())
    assert len(_layout(demo_file)[1]) >= 2
    for gi, gid in enumerate(d.game_id):
        rows = np.nonzero(d.game == gid)[0]
        assert list(d.decision[rows]) == list(range(len(rows)))
        g = GameState(d.game_start_state[gi].copy())
        for r in rows:
            # the recorded view, legal list and seat are those of the re-played position
            assert int(d.seat[r]) == g.current_player
            assert np.array_equal(d.obs[r], g.observation())
            legal = d.legal_of(r)
            assert np.array_equal(legal, g.legal_tuples())
            assert any((legal == d.action[r]).all(1))
            g.apply(tuple(int(x) for x in d.action[r]))     # checked apply: raises on an illegal tuple
        assert g.done
        res0 = 0 if g.truncated or g.winner == 2 else (1 if g.winner == 0 else -1)
        assert d.game_result[gi] == res0 and bool(d.game_truncated[gi]) == g.truncated
        assert np.array_equal(d.result[rows], np.where(d.seat[rows] == 0, res0, -res0))


def test_append_with_matching_version(demo_file, tmp_path):
    path = tmp_path / "a.demos"
    path.write_bytes(demo_file.read_bytes())
    before = D.load_demos(path)
    res = D.write_demos(path, "random", 3, seed=9, append=True, chunk_records=100)
    assert res["appended"] and res["file_games"] == GAMES + 3
    after = D.load_demos(path)
    assert list(after.game_id) == list(range(GAMES + 3))
    n = len(before)
    assert np.array_equal(after.obs[:n], before.obs) and np.array_equal(after.action[:n], before.action)
    assert [s["bot"] for s in after.header["sessions"]] == ["heuristic", "random"]
    assert after.header["sessions"][1]["first_game_id"] == GAMES


def _rewrite_header(path, **changes):
    b = path.read_bytes()
    hlen = struct.unpack_from("<I", b, 8)[0]
    header = json.loads(b[12:12 + hlen])
    header.update(changes)
    raw = json.dumps(header).encode()
    path.write_bytes(b[:8] + struct.pack("<I", len(raw)) + raw + struct.pack("<I", zlib.crc32(raw)) + b[12 + hlen + 4:])


@pytest.mark.parametrize("field,value,words", [
    ("version", 2, "format version 2"),
    ("action_spec_version", 99, "action spec version 99"),
    ("card_table_digest", "00" * 16, "card table digest"),
    ("state_layout_version", 999, "state layout version 999"),
    ("obs_size", 5, "observation size 5"),
    ("max_legal", 7, "legal list capacity 7"),
])
def test_append_to_mismatched_version_is_refused(demo_file, tmp_path, capsys, field, value, words):
    path = tmp_path / "m.demos"
    path.write_bytes(demo_file.read_bytes())
    _rewrite_header(path, **{field: value})
    original = path.read_bytes()
    with pytest.raises(D.DemoFormatError, match=words):
        D.write_demos(path, "heuristic", 2, append=True)
    with pytest.raises(D.DemoFormatError, match=words):
        D.load_demos(path)
    assert tcg(["demos", "--games", "2", "--out", str(path), "--append"]) == 2
    assert words in capsys.readouterr().err
    assert path.read_bytes() == original and sorted(os.listdir(tmp_path)) == ["m.demos"]


def test_truncated_files_name_the_position(demo_file, tmp_path):
    start, chunks, end = _layout(demo_file)
    b = demo_file.read_bytes()
    (c1, p1) = chunks[1]
    cases = [  # (cut at, expected chunk, expected offset)
        (10, None, 10), (start - 2, None, start - 4),       # in the file header
        (c1, 1, c1),                                          # after a complete chunk: no end record
        (c1 + 20, 1, c1),                                     # inside a chunk header
        (c1 + 32 + p1 // 2, 1, c1 + 32),                      # inside a payload
        (end, len(chunks), end), (end + 10, None, end),       # no / a cut end record
    ]
    for cut, chunk, offset in cases:
        path = tmp_path / f"t{cut}.demos"
        path.write_bytes(b[:cut])
        with pytest.raises(D.DemoTruncatedError) as ei:
            D.load_demos(path)
        assert (ei.value.chunk, ei.value.offset) == (chunk, offset), (cut, str(ei.value))
        assert f"byte {offset}" in str(ei.value)


def test_corrupted_bytes_name_the_position(demo_file, tmp_path):
    start, chunks, end = _layout(demo_file)
    b = demo_file.read_bytes()
    (c1, p1) = chunks[1]
    cases = [  # (byte to flip, expected chunk, expected offset, words)
        (14, None, 12, "JSON header"),
        (c1 + 32 + p1 // 2, 1, c1 + 32, "payload's checksum"),
        (c1 + 9, 1, c1, "chunk header's checksum"),
        (c1 + 1, 1, c1, "expected a chunk header"),
        (end + 8, None, end, "end record's checksum"),
    ]
    for pos, chunk, offset, words in cases:
        path = tmp_path / f"c{pos}.demos"
        bad = bytearray(b)
        bad[pos] ^= 0x5A
        path.write_bytes(bytes(bad))
        with pytest.raises(D.DemoCorruptError, match=words) as ei:
            D.load_demos(path)
        assert not isinstance(ei.value, D.DemoTruncatedError)
        assert (ei.value.chunk, ei.value.offset) == (chunk, offset), (pos, str(ei.value))
    path = tmp_path / "tail.demos"
    path.write_bytes(b + b"x")
    with pytest.raises(D.DemoCorruptError, match="after the end record"):
        D.load_demos(path)
    # a payload whose checksum is right but whose arrays are inconsistent is caught too
    rd = D.DemoReader(demo_file)
    with open(demo_file, "rb") as f:
        info, payload = next(rd._scan(f, payloads=True))
    import io
    z = dict(np.load(io.BytesIO(payload), allow_pickle=False))
    z["result"] = -z["result"]
    with pytest.raises(D.DemoCorruptError, match="result disagrees") as ei:
        buf = io.BytesIO()
        np.savez(buf, **z)
        D._unpack(demo_file, info, buf.getvalue(), rd.header)
    assert ei.value.chunk == 0


def test_not_a_demos_file(tmp_path):
    for name, data in (("empty", b""), ("text", b"hello world, not demos"), ("npz", b"PK\x03\x04" + b"\0" * 40)):
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(D.DemoFormatError, match="not a tcg demonstrations file"):
            D.load_demos(p)
    with pytest.raises(D.DemoError, match="no such file"):
        D.load_demos(tmp_path / "missing")
    with pytest.raises(D.DemoError, match="is a folder, not a demonstrations file"):
        D.load_demos(tmp_path)


def test_an_unreadable_demos_file_is_a_demo_error(demo_file, monkeypatch):
    """A file that exists but cannot be opened (no read permission; root can read anything, so
    the refusal is simulated) is a DemoError naming it, not a PermissionError traceback."""
    path = demo_file
    real_open = Path.open

    def refuse(self, *a, **k):
        if self == Path(path):
            raise PermissionError(13, "Permission denied")
        return real_open(self, *a, **k)
    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(D.DemoError, match=r"cannot be read \(Permission denied\)"):
        D.load_demos(path)


def test_interrupted_write_leaves_no_complete_looking_file(demo_file, tmp_path):
    def boom(writer):
        raise KeyboardInterrupt

    new = tmp_path / "new.demos"
    with pytest.raises(KeyboardInterrupt):
        D.write_demos(new, "heuristic", 6, chunk_records=50, _after_chunk=boom)
    assert os.listdir(tmp_path) == []
    old = tmp_path / "old.demos"
    old.write_bytes(demo_file.read_bytes())
    with pytest.raises(KeyboardInterrupt):
        D.write_demos(old, "heuristic", 6, append=True, chunk_records=50, _after_chunk=boom)
    assert old.read_bytes() == demo_file.read_bytes() and os.listdir(tmp_path) == ["old.demos"]


def test_killed_write_leaves_only_a_temporary_that_reads_as_truncated(tmp_path):
    target = tmp_path / "k.demos"
    code = ("import os, signal, sys\n"
            "from training.demos import write_demos\n"
            "write_demos(sys.argv[1], 'heuristic', 8, chunk_records=50,\n"
            "            _after_chunk=lambda w: w.chunks == 2 and (w.f.flush(), os.kill(os.getpid(), signal.SIGKILL)))\n")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code, str(target)], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == -9, proc.stderr
    assert not target.exists()
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and left[0].name.endswith(".tmp")
    with pytest.raises(D.DemoTruncatedError, match="without an end record") as ei:
        D.load_demos(left[0])
    assert ei.value.chunk == 2


def test_cli_demos_errors(demo_file, tmp_path, capsys):
    assert tcg(["demos", "--games", "2", "--out", str(demo_file)]) == 2
    assert "--append" in capsys.readouterr().err
    assert tcg(["demos", "--games", "0", "--out", str(tmp_path / "x")]) == 2
    assert tcg(["demos", "--games", "2", "--bot", "nobody", "--out", str(tmp_path / "x")]) == 2
    assert "unknown bot" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # --append names an existing file: a mistyped path is refused, not started afresh
    assert tcg(["demos", "--games", "2", "--out", str(tmp_path / "x"), "--append"]) == 2
    assert "does not exist; drop --append" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # refused commands leave no folder they made for --out behind
    for extra, says in ((["--append"], "does not exist; drop --append"), (["--bot", "nobody"], "unknown bot")):
        assert tcg(["demos", "--games", "2", "--out", str(tmp_path / "new" / "sub" / "x"), *extra]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / "new").exists(), extra
    out = tmp_path / "ok.demos"
    assert tcg(["demos", "--games", "3", "--out", str(out), "--json", "--decks", "thorn"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["file_games"] == 3
    assert D.DemoReader(out).header["sessions"][0]["decks"] == "Thornwall Bastion"   # recorded by its full name
    # and played: every game starts with that deck's leader in both seats
    from prefabs import default_decks, default_pool
    from verification.rules import pbase
    from verification.layout import P_LEADER
    leader = default_pool().id_of(default_decks()["Thornwall Bastion"].leader)
    start = D.load_demos(out).game_start_state
    assert len(start) == 3 and (start[:, [pbase(0) + P_LEADER, pbase(1) + P_LEADER]] == leader).all()


def test_checkpoint_bot_records_through_the_observation_interface(tmp_path):
    import torch
    from policy import PolicyConfig, TCGPolicy
    from training.checkpoint import save_policy
    torch.manual_seed(0)
    ckpt = save_policy(TCGPolicy(PolicyConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32)), tmp_path / "p.pt")
    path = tmp_path / "p.demos"
    D.write_demos(path, f"checkpoint:{ckpt}@sample", 2, seed=1)
    d = D.load_demos(path)
    assert len(d.game_id) == 2
    assert all(any((d.legal_of(r) == d.action[r]).all(1)) for r in range(len(d)))


def _first_chunk(path):
    """(reader, ChunkInfo, the first chunk's arrays as a dict) of a demonstrations file."""
    import io
    rd = D.DemoReader(path)
    with open(path, "rb") as f:
        info, payload = next(rd._scan(f, payloads=True))
    return rd, info, dict(np.load(io.BytesIO(payload), allow_pickle=False))


def _payload(arrays):
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_values_outside_the_head_sizes_are_refused(demo_file):
    """A tuple value equal to its head's size (one past the last) is out of range in the
    expert's action and in the legal list: refused as corrupt, not handed to a policy."""
    from verification.spec import HEAD_SIZES
    rd, info, z = _first_chunk(demo_file)
    D._unpack(demo_file, info, _payload(z), rd.header)   # the untouched chunk reads
    for key in ("action", "legal"):
        for k in range(4):
            bad = {n: a.copy() for n, a in z.items()}
            bad[key][0, k] = HEAD_SIZES[k]
            with pytest.raises(D.DemoCorruptError, match="outside the head sizes") as ei:
                D._unpack(demo_file, info, _payload(bad), rd.header)
            assert ei.value.chunk == 0


def test_a_start_state_no_game_can_hold_is_refused(demo_file):
    """game_start_state rows are replayed with GameState(row), so a chunk's start state is
    checked like any state row from outside: a word out of range, or a pending SUMMON of a card
    id past the table (which crashed the engine), is corrupt; so is a row of the wrong width."""
    from prefabs.enums import Effect, Target
    from verification import layout as L
    rd, info, z = _first_chunk(demo_file)
    D._unpack(demo_file, info, _payload(z), rd.header)
    bad = {n: a.copy() for n, a in z.items()}
    bad["game_start_state"][0, L.G_TURN] = 0
    with pytest.raises(D.DemoCorruptError, match=r"start state is not one this engine can hold \(row 0: turn"):
        D._unpack(demo_file, info, _payload(bad), rd.header)
    bad = {n: a.copy() for n, a in z.items()}
    bad["game_start_state"][0, [L.G_PHASE, L.G_PEND_CARD, L.G_PEND_EFF, L.G_PEND_A1, L.G_PEND_A2, L.G_PEND_TGT]] = (
        L.PH_CHOOSE_TARGET, 1, int(Effect.SUMMON), 10 ** 8, 1, int(Target.ENEMY_UNIT))
    with pytest.raises(D.DemoCorruptError, match="not an ability of its pending card"):
        D._unpack(demo_file, info, _payload(bad), rd.header)
    bad = {n: a.copy() for n, a in z.items()}
    bad["game_start_state"] = bad["game_start_state"][:, :-1]
    with pytest.raises(D.DemoCorruptError, match="'game_start_state' has shape"):
        D._unpack(demo_file, info, _payload(bad), rd.header)


def test_a_pickled_array_is_refused_without_being_unpickled(demo_file, tmp_path):
    """The file is data only: a chunk holding an object array (a pickle, which could run any
    code when loaded) is a DemoCorruptError, and the pickle never runs."""
    _, _, z = _first_chunk(demo_file)
    marker = tmp_path / "pickle-ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))
    z["obs"] = np.array([Evil()] * len(z["obs"]), dtype=object)
    path = tmp_path / "evil.demos"
    w = D._Writer(path, {**D.expected_header(), "sessions": []}, None)
    w.write_chunk(z, len(z["seat"]), len(z["game_id"]))
    w.commit()
    with pytest.raises(D.DemoCorruptError, match="chunk 0"):
        D.load_demos(path)
    assert not marker.exists()


def test_a_bot_playing_an_illegal_tuple_writes_nothing(tmp_path, monkeypatch):
    """A demonstrating bot that plays a tuple not in the legal list stops the run with BotError
    and no file (nor temporary) is left: an illegal expert tuple is never recorded."""
    import tcg_env.bots
    from verification.spec import Primary

    class Cheat:
        calls = 0

        def act_batch(self, state, cards, legal, legal_n, out=None, rows=None):
            out[rows] = legal[rows, 0]
            Cheat.calls += 1
            if Cheat.calls == 3:   # once, then legal again (the games would otherwise still finish)
                out[rows[0]] = (Primary.ATTACK, 31, 31, 1)
    monkeypatch.setattr(tcg_env.bots, "make_bot", lambda name, seed=0: Cheat())
    with pytest.raises(D.BotError, match="which is not legal"):
        D.write_demos(tmp_path / "c.demos", "cheat", 2, seed=1, parallel=2)
    assert Cheat.calls == 3 and os.listdir(tmp_path) == []


def test_write_demos_never_overwrites_without_append(demo_file, tmp_path):
    """write_demos (the API as well as `tcg demos`) refuses an existing file unless appending."""
    path = tmp_path / "keep.demos"
    path.write_bytes(demo_file.read_bytes())
    with pytest.raises(FileExistsError, match="append"):
        D.write_demos(path, "heuristic", 2, seed=1)
    assert path.read_bytes() == demo_file.read_bytes() and os.listdir(tmp_path) == ["keep.demos"]


def test_the_seed_decides_the_games(tmp_path):
    """Same (bot, games, seed, parallel): the same records; another seed: other games."""
    def records(seed, name):
        D.write_demos(tmp_path / name, "heuristic", 3, seed=seed, parallel=3)
        d = D.load_demos(tmp_path / name)
        return d.game_start_state, d.obs, d.action
    a, b, c = records(7, "a"), records(7, "b"), records(8, "c")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0]) and not (len(a[2]) == len(c[2]) and np.array_equal(a[2], c[2]))


@pytest.mark.parametrize("edit,words", [
    (lambda z: z["decision"].__setitem__(slice(None), z["decision"] + 1), "decision indices"),
    (lambda z: z["decision"].__setitem__([1, 2], z["decision"][[2, 1]]), "decision indices"),
    (lambda z: z["game"].__setitem__(0, z["game_id"][-1] + 1), "game ids do not follow"),
    (lambda z: z["seat"].__setitem__(0, 2), "a seat is not 0/1"),
    (lambda z: z["game_length"].__setitem__(0, z["game_length"][0] + 1), "game lengths do not add up"),
], ids=["decision-shifted", "decisions-swapped", "game-id", "seat", "game-length"])
def test_inconsistent_record_arrays_are_refused(demo_file, edit, words):
    """A payload whose checksum is right but whose records do not describe whole games in
    decision order (the layout the replay and the split by game rely on) is corrupt."""
    rd, info, z = _first_chunk(demo_file)
    edit(z)
    with pytest.raises(D.DemoCorruptError, match=words) as ei:
        D._unpack(demo_file, info, _payload(z), rd.header)
    assert ei.value.chunk == 0
