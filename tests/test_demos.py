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
    monkeypatch.setattr(tcg_env.bots, "make_bot", lambda name, seed=0, cards=None: Cheat())
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


# ----------------------------------------------------------------------------- mutation audit of demos.py
def _header_file(path, raw: bytes):
    """A file of the magic, a JSON header ``raw`` with a correct checksum, and nothing else."""
    path.write_bytes(D.MAGIC + struct.pack("<I", len(raw)) + raw + struct.pack("<I", zlib.crc32(raw)))
    return path


def _chunk_file(path, arrays, records=None, games=None):
    """A complete file (header, one chunk of ``arrays``, end record) written by the writer itself."""
    w = D._Writer(path, {**D.expected_header(), "sessions": []}, None)
    w.write_chunk(arrays, len(arrays["seat"]) if records is None else records,
                  len(arrays["game_id"]) if games is None else games)
    w.commit()
    return path


@pytest.mark.parametrize("field,value,words", [
    ("format", "tcg-replay", "not a tcg demonstrations file"),
    ("head_sizes", [1, 2, 3, 4], "head sizes"),
])
def test_a_header_of_another_format_or_head_sizes_is_refused(demo_file, tmp_path, field, value, words):
    path = tmp_path / "o.demos"
    path.write_bytes(demo_file.read_bytes())
    _rewrite_header(path, **{field: value})
    with pytest.raises(D.DemoFormatError, match=words):
        D.load_demos(path)


def test_a_file_cut_inside_the_magic_or_the_json_header_is_truncated_there(demo_file, tmp_path):
    b = demo_file.read_bytes()
    hlen = struct.unpack_from("<I", b, 8)[0]
    for cut in (3, 7, 12 + hlen // 2, 12 + hlen - 1):
        path = tmp_path / f"h{cut}.demos"
        path.write_bytes(b[:cut])
        with pytest.raises(D.DemoTruncatedError) as ei:
            D.load_demos(path)
        assert (ei.value.chunk, ei.value.offset) == (None, cut), str(ei.value)


@pytest.mark.parametrize("raw,words", [
    (b"[1, 2, 3]", "the JSON header is not an object"),
    (b"{\"format\": ", "the JSON header does not parse"),
    (b"\xff\xfe{}", "the JSON header does not parse"),
])
def test_a_json_header_that_is_not_an_object_is_corrupt(tmp_path, raw, words):
    """The checksum is right, so only the parse can tell: a typed error, not a JSON or attribute error."""
    path = _header_file(tmp_path / "j.demos", raw)
    with pytest.raises(D.DemoCorruptError, match=words) as ei:
        D.load_demos(path)
    assert ei.value.offset == 12


@pytest.mark.parametrize("field", [1, 2, 3])   # chunks, records, games in the end record
def test_an_end_record_whose_counts_disagree_is_corrupt(demo_file, tmp_path, field):
    _, _, end = _layout(demo_file)
    b = bytearray(demo_file.read_bytes())
    vals = list(struct.unpack_from("<4sIQQI", b, end))
    vals[field] += 1
    blob = struct.pack("<4sIQQI", *vals)
    b[end:end + 32] = blob + struct.pack("<I", zlib.crc32(blob))
    path = tmp_path / "e.demos"
    path.write_bytes(bytes(b))
    with pytest.raises(D.DemoCorruptError, match="the end record counts") as ei:
        D.load_demos(path)
    assert ei.value.offset == end and not isinstance(ei.value, D.DemoTruncatedError)
    with pytest.raises(D.DemoCorruptError, match="the end record counts"):
        D.DemoReader(path).verify()


def test_a_chunk_numbered_out_of_order_is_corrupt(demo_file, tmp_path):
    _, chunks, _ = _layout(demo_file)
    c1 = chunks[1][0]
    b = bytearray(demo_file.read_bytes())
    struct.pack_into("<I", b, c1 + 4, 5)
    struct.pack_into("<I", b, c1 + 28, zlib.crc32(bytes(b[c1:c1 + 28])))
    path = tmp_path / "n.demos"
    path.write_bytes(bytes(b))
    with pytest.raises(D.DemoCorruptError, match="chunk numbered 5, expected 1") as ei:
        D.load_demos(path)
    assert (ei.value.chunk, ei.value.offset) == (1, c1)


def test_append_verifies_every_payload_checksum_first(demo_file, tmp_path):
    """Appending copies the old chunks byte for byte, so they are checksummed first: a damaged
    payload is refused and the file is left as it was."""
    _, chunks, _ = _layout(demo_file)
    c1, p1 = chunks[1]
    bad = bytearray(demo_file.read_bytes())
    bad[c1 + 32 + p1 // 2] ^= 0x5A
    path = tmp_path / "d.demos"
    path.write_bytes(bytes(bad))
    with pytest.raises(D.DemoCorruptError, match="payload's checksum") as ei:
        D.DemoReader(path).verify()
    assert (ei.value.chunk, ei.value.offset) == (1, c1 + 32)
    with pytest.raises(D.DemoCorruptError, match="payload's checksum"):
        D.write_demos(path, "random", 2, seed=1, append=True)
    assert path.read_bytes() == bytes(bad) and os.listdir(tmp_path) == ["d.demos"]


def test_verify_checksums_payloads_larger_than_its_read_block(tmp_path):
    """verify() reads a payload in 1 MiB blocks; the CRC runs over all of them."""
    rng = np.random.default_rng(0)
    path = _chunk_file(tmp_path / "big.demos", {"noise": rng.integers(-128, 128, 3 << 20, dtype=np.int8),
                                                "seat": np.zeros(2, np.int8), "game_id": np.zeros(1, np.int64)})
    rd = D.DemoReader(path).verify()
    assert (rd.n_chunks, rd.n_records, rd.n_games) == (1, 2, 1)
    _, chunks, _ = _layout(path)
    assert chunks[0][1] > 2 << 20
    b = bytearray(path.read_bytes())
    b[chunks[0][0] + 32 + (5 << 19)] ^= 1     # a byte in the third block
    path.write_bytes(bytes(b))
    with pytest.raises(D.DemoCorruptError, match="payload's checksum"):
        D.DemoReader(path).verify()


@pytest.mark.parametrize("change", ["extra", "missing"])
def test_a_payload_with_other_arrays_is_corrupt(demo_file, tmp_path, change):
    _, _, z = _first_chunk(demo_file)
    if change == "extra":
        z["notes"] = np.zeros(3, np.int8)
    else:
        del z["game_truncated"]
    path = _chunk_file(tmp_path / "x.demos", z)
    with pytest.raises(D.DemoCorruptError, match="the payload's arrays are .* expected") as ei:
        D.load_demos(path)
    assert ei.value.chunk == 0


@pytest.mark.parametrize("edit,words", [
    (lambda z: z.__setitem__("obs", z["obs"].astype(np.int16)), "'obs' has dtype int16, expected int8"),
    (lambda z: z.__setitem__("game", z["game"].astype(np.int32)), "'game' has dtype int32, expected int64"),
    (lambda z: z.__setitem__("obs", np.concatenate([z["obs"], z["obs"][:, :1]], 1)), "'obs' has shape"),
    (lambda z: z.__setitem__("obs", z["obs"][:, :-1]), "'obs' has shape"),
    (lambda z: z.__setitem__("action", z["action"][:, :3]), "'action' has shape"),
    (lambda z: z.__setitem__("game_truncated", z["game_truncated"][:-1]), "'game_truncated' has shape"),
    (lambda z: z.__setitem__("legal", np.concatenate([z["legal"], z["legal"][:1]])), "'legal' has shape"),
    (lambda z: z["action"].__setitem__((0, 1), -1), "'action' holds a value outside the head sizes"),
    (lambda z: z["legal"].__setitem__((3, 0), -1), "'legal' holds a value outside the head sizes"),
], ids=["obs-dtype", "game-dtype", "obs-wide", "obs-narrow", "action-width", "game-truncated-len", "legal-rows",
        "action-negative", "legal-negative"])
def test_arrays_of_another_dtype_shape_or_range_are_refused(demo_file, edit, words):
    rd, info, z = _first_chunk(demo_file)
    edit(z)
    with pytest.raises(D.DemoCorruptError, match=words) as ei:
        D._unpack(demo_file, info, _payload(z), rd.header)
    assert ei.value.chunk == 0


def _set_legal_count(z, r, n):
    """Record r of chunk arrays ``z`` gets ``n`` legal rows (its first row repeated), the legal
    array staying consistent with the counts."""
    cnt = z["legal_count"].astype(np.int64)
    o = int(cnt[:r].sum())
    rows = np.repeat(z["legal"][o:o + 1], n, 0)
    z["legal"] = np.concatenate([z["legal"][:o], rows, z["legal"][o + int(cnt[r]):]])
    z["legal_count"][r] = n


def test_legal_counts_must_be_within_one_and_max_legal(demo_file):
    from verification.spec import MAX_LEGAL
    rd, info, z = _first_chunk(demo_file)
    for n, ok in ((0, False), (1, True), (MAX_LEGAL, True), (MAX_LEGAL + 1, False)):
        bad = {k: a.copy() for k, a in z.items()}
        _set_legal_count(bad, 2, n)
        if ok:
            got = D._unpack(demo_file, info, _payload(bad), rd.header)
            assert int(got["legal_count"][2]) == n and len(got["legal"]) == int(bad["legal_count"].sum())
        else:
            with pytest.raises(D.DemoCorruptError, match=r"legal_count is outside 1\.\.max_legal"):
                D._unpack(demo_file, info, _payload(bad), rd.header)


def test_a_game_result_outside_minus_one_to_one_is_refused(demo_file):
    """game_result 2 with every record's result consistently +-2 is still refused."""
    rd, info, z = _first_chunk(demo_file)
    z["game_result"][0] = 2
    n = int(z["game_length"][0])
    z["result"][:n] = np.where(z["seat"][:n] == 0, 2, -2)
    with pytest.raises(D.DemoCorruptError, match="a result is not -1/0/"):
        D._unpack(demo_file, info, _payload(z), rd.header)


def test_a_game_with_no_records_is_refused(demo_file):
    """Every game of a chunk holds at least one decision: an extra game of length 0 is corrupt."""
    from dataclasses import replace
    rd, info, z = _first_chunk(demo_file)
    for k in ("game_id", "game_result", "game_truncated", "game_start_state"):
        z[k] = np.concatenate([z[k], z[k][-1:]])
    z["game_id"][-1] += 1
    z["game_length"] = np.concatenate([z["game_length"], np.zeros(1, np.int32)])
    with pytest.raises(D.DemoCorruptError, match="game lengths"):
        D._unpack(demo_file, replace(info, games=info.games + 1), _payload(z), rd.header)


def test_a_file_with_no_chunks_loads_as_empty_arrays_of_the_right_shapes(tmp_path):
    from tcg_env.observation import OBS_SIZE
    path = tmp_path / "e.demos"
    w = D._Writer(path, {**D.expected_header(), "sessions": []}, None)
    w.commit()
    d = D.load_demos(path)
    assert len(d) == 0 and list(d.legal_offset) == [0]
    assert d.obs.shape == (0, OBS_SIZE) and d.legal.shape == (0, 4) and d.action.shape == (0, 4)
    from verification.layout import STATE_SIZE
    assert d.game_start_state.shape == (0, STATE_SIZE)
    for k in D.ARRAYS:   # legal_count is widened to int32 in memory, as in a file with records
        assert getattr(d, k).dtype == (np.int32 if k == "legal_count" else D._DTYPES[k]), k


def test_padded_legal_pads_with_zeros_to_the_longest_list(demo_file):
    d = D.load_demos(demo_file)
    idx = np.argsort(d.legal_count)[[0, len(d) // 2, -1]]
    assert d.legal_count[idx[0]] < d.legal_count[idx[-1]]
    out, cnt = d.padded_legal(idx)
    assert out.shape == (3, int(d.legal_count[idx].max()), 4) and out.dtype == np.int8
    assert list(cnt) == list(d.legal_count[idx]) and cnt.dtype == np.int32
    for b, r in enumerate(idx):
        n = int(d.legal_count[r])
        assert np.array_equal(out[b, :n], d.legal_of(r)) and not out[b, n:].any()


def test_written_files_get_a_plain_files_mode_and_appends_keep_it(tmp_path):
    old = os.umask(0o027)
    try:
        path = tmp_path / "m.demos"
        D.write_demos(path, "random", 2, seed=1)
        assert path.stat().st_mode & 0o777 == 0o640
        os.chmod(path, 0o604)
        D.write_demos(path, "random", 1, seed=2, append=True)
        assert path.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(old)


@pytest.mark.parametrize("kw", [{"games": 0}, {"games": 2.5}, {"games": "3"}, {"parallel": 0},
                                {"chunk_records": 0}])
def test_counts_below_one_or_not_whole_are_refused_before_any_file(tmp_path, kw):
    with pytest.raises((ValueError, TypeError), match=r">= 1"):
        D.write_demos(tmp_path / "v.demos", "random", **{"games": 2, **kw})
    assert os.listdir(tmp_path) == []


def test_the_summary_progress_and_session_describe_what_was_written(tmp_path):
    calls = []
    path = tmp_path / "s.demos"
    res = D.write_demos(path, "heuristic", 6, seed=12, parallel=2, chunk_records=150,
                        progress=lambda g, r: calls.append((g, r)))   # records counted buffered or written
    d = D.load_demos(path)
    ends = np.cumsum(d.game_length)    # games are written (and numbered) in the order they finish
    assert calls and calls[-1] == (6, len(d)) and all(r == int(ends[g - 1]) for g, r in calls)
    assert (res["games"], res["records"], res["file_games"], res["file_records"]) == (6, len(d), 6, len(d))
    assert res["file_chunks"] == len(_layout(path)[1]) and res["bytes"] == path.stat().st_size
    gr = d.game_result
    assert (res["seat0_wins"], res["seat1_wins"], res["draws_or_truncated"]) == (
        int((gr > 0).sum()), int((gr < 0).sum()), int((gr == 0).sum()))
    assert res["seat0_wins"] != res["seat1_wins"]   # (this seed tells the two apart)
    s = d.header["sessions"][0]
    assert (s["bot"], s["seed"], s["games"], s["parallel"], s["decks"], s["first_game_id"]) == (
        "heuristic", 12, 6, 2, None, 0)
    calls.clear()
    res2 = D.write_demos(path, "random", 2, seed=13, parallel=4, append=True,
                         progress=lambda g, r: calls.append((g, r)))
    after = D.load_demos(path)
    assert calls[-1] == (2, len(after) - len(d))   # an append's progress counts its own decisions only
    assert (res2["games"], res2["records"], res2["file_games"], res2["file_records"]) == (
        2, len(after) - len(d), 8, len(after))
    s = after.header["sessions"][1]
    assert (s["bot"], s["seed"], s["games"], s["parallel"], s["first_game_id"]) == ("random", 13, 2, 4, 6)


def test_more_parallel_rows_than_games_records_exactly_the_games_asked_for(tmp_path):
    """parallel is capped at games: no extra games are played (or written) beyond those asked."""
    D.write_demos(tmp_path / "a.demos", "heuristic", 3, seed=5, parallel=64)
    D.write_demos(tmp_path / "b.demos", "heuristic", 3, seed=5, parallel=3)
    a, b = D.load_demos(tmp_path / "a.demos"), D.load_demos(tmp_path / "b.demos")
    assert list(a.game_id) == [0, 1, 2]
    assert np.array_equal(a.game_start_state, b.game_start_state) and np.array_equal(a.action, b.action)


def test_a_chunk_is_written_once_chunk_records_decisions_are_buffered(tmp_path):
    """One game at a time; chunk_records equal to the first game's length: that game alone is chunk 0."""
    D.write_demos(tmp_path / "probe.demos", "heuristic", 2, seed=2, parallel=1)
    n0 = int(D.load_demos(tmp_path / "probe.demos").game_length[0])
    path = tmp_path / "c.demos"
    D.write_demos(path, "heuristic", 2, seed=2, parallel=1, chunk_records=n0)
    b = path.read_bytes()
    chunks = _layout(path)[1]
    assert len(chunks) == 2 and struct.unpack_from("<II", b, chunks[0][0] + 8) == (n0, 1)


def test_game_ids_must_number_the_files_games_in_order(demo_file, tmp_path):
    """Game ids are 0, 1, ... in file order: a chunk that repeats or skips ids is corrupt (a file
    whose games shared an id would merge them when cloning splits by game), and the message
    says which ids it found and which it expected."""
    _, _, z = _first_chunk(demo_file)
    G = len(z["game_id"])
    twice = tmp_path / "twice.demos"
    w = D._Writer(twice, {**D.expected_header(), "sessions": []}, None)
    for _ in range(2):   # the same games again as a second chunk
        w.write_chunk(z, len(z["seat"]), G)
    w.commit()
    with pytest.raises(D.DemoCorruptError, match=rf"game ids are \[0, 1, .*expected \[{G}, {G + 1}, ") as e:
        D.load_demos(twice)
    assert e.value.chunk == 1
    shifted = {k: v.copy() for k, v in z.items()}
    shifted["game_id"] += 5
    shifted["game"] += 5
    with pytest.raises(D.DemoCorruptError, match=r"game ids are \[5, 6, .*expected \[0, 1, "):
        D.load_demos(_chunk_file(tmp_path / "shifted.demos", shifted))


def test_game_truncated_is_0_or_1_and_a_truncated_game_scores_0(demo_file, tmp_path):
    _, _, z = _first_chunk(demo_file)
    decided = int(np.nonzero(z["game_result"])[0][0])
    drawn = {k: v.copy() for k, v in z.items()}   # a truncated game with result 0 reads
    start = int(z["game_length"][:decided].sum())
    drawn["game_result"][decided] = 0
    drawn["result"][start:start + z["game_length"][decided]] = 0
    drawn["game_truncated"][decided] = 1
    assert D.load_demos(_chunk_file(tmp_path / "ok.demos", drawn)).game_truncated[decided] == 1
    for name, edit in (("two", lambda a: a["game_truncated"].__setitem__(0, 2)),
                       ("won", lambda a: a["game_truncated"].__setitem__(decided, 1))):
        bad = {k: v.copy() for k, v in z.items()}
        edit(bad)
        with pytest.raises(D.DemoCorruptError, match="game_truncated is not 0/1, or a truncated game has a result"):
            D.load_demos(_chunk_file(tmp_path / f"{name}.demos", bad))


@pytest.mark.parametrize("sessions", [5, None, "abc", {"a": 1}, [{"bot": "heuristic"}, 2]])
def test_a_header_whose_sessions_are_not_a_list_of_records_is_refused(demo_file, tmp_path, capsys, sessions):
    """`sessions` is the one header field the game version does not fix: anything but a list of
    records is refused when read, so an append neither fails with a TypeError half way nor
    rewrites a string into a list of its letters; the file stays as it was."""
    path = tmp_path / "s.demos"
    path.write_bytes(demo_file.read_bytes())
    _rewrite_header(path, sessions=sessions)
    original = path.read_bytes()
    with pytest.raises(D.DemoFormatError, match="the header's 'sessions' must be a list of session records"):
        D.load_demos(path)
    assert tcg(["demos", "--games", "1", "--parallel", "1", "--out", str(path), "--append"]) == 2
    assert "'sessions' must be a list" in capsys.readouterr().err
    assert path.read_bytes() == original and sorted(os.listdir(tmp_path)) == ["s.demos"]


@pytest.mark.parametrize("field,kind", [("obs_size", float), ("max_legal", float), ("head_sizes", float),
                                        ("action_spec_version", bool), ("version", bool)])
def test_a_header_number_of_another_json_type_is_another_version(demo_file, tmp_path, field, kind):
    """800.0 == 800 and True == 1 in Python; the header is compared as JSON, so they are refused."""
    want = D.expected_header()[field]
    if kind is bool:
        assert want == 1
    value = [float(want[0])] + want[1:] if isinstance(want, list) else kind(want)
    assert value == want
    path = tmp_path / "t.demos"
    path.write_bytes(demo_file.read_bytes())
    _rewrite_header(path, **{field: value})
    with pytest.raises(D.DemoFormatError, match="another game version|format version True; this code reads"):
        D.load_demos(path)


@pytest.mark.parametrize("raw,words", [
    (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
    (b'{"format": "tcg-demos", "x": [' * 5_000 + b"]}" * 5_000, "RecursionError"),
    (b'{"format": ' + b"9" * 5_000 + b"}", "ValueError: Exceeds the limit"),
])
def test_a_json_header_nested_too_deep_or_with_a_huge_number_is_corrupt(tmp_path, raw, words):
    path = _header_file(tmp_path / "d.demos", raw)
    with pytest.raises(D.DemoCorruptError, match="the JSON header does not parse .*" + words):
        D.load_demos(path)


def test_an_array_declared_larger_than_its_chunk_is_refused_before_it_is_decompressed(demo_file, monkeypatch):
    """Each array's shape is read from its .npy header first: a small payload of zeros declaring
    a huge array is refused without allocating it (np.load's archive is never asked for it)."""
    rd, info, z = _first_chunk(demo_file)
    z["obs"] = np.zeros((300_000, z["obs"].shape[1]), np.int8)   # ~240 MB declared, a few hundred KB compressed
    import io
    buf = io.BytesIO()
    np.savez_compressed(buf, **z)
    assert len(buf.getvalue()) < 1_000_000
    read = []
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__",
                        lambda self, k, _orig=np.lib.npyio.NpzFile.__getitem__: read.append(k) or _orig(self, k))
    with pytest.raises(D.DemoCorruptError, match=r"array 'obs' has shape \(300000, 800\), expected"):
        D._unpack(demo_file, info, buf.getvalue(), rd.header)
    assert read == []


def test_an_empty_chunk_loads(demo_file, tmp_path):
    """A chunk of no games and no records (no writer makes one, but it holds nothing wrong) is
    read as empty, not refused with a broadcasting error."""
    from dataclasses import replace
    rd, info, z = _first_chunk(demo_file)
    empty = {k: v[:0] for k, v in z.items()}
    out = D._unpack(demo_file, replace(info, records=0, games=0), _payload(empty), rd.header)
    assert all(len(v) == 0 for v in out.values())


def test_a_path_that_is_not_a_regular_file_is_named_so(tmp_path):
    """/dev/null exists: it is not a regular file, not "no such file"."""
    with pytest.raises(D.DemoError, match="is not a regular file"):
        D.load_demos("/dev/null")
    with pytest.raises(D.DemoError, match="no such file"):
        D.load_demos(tmp_path / "absent.demos")
