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
    out = tmp_path / "ok.demos"
    assert tcg(["demos", "--games", "3", "--out", str(out), "--json", "--decks", "thorn"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["file_games"] == 3
    assert D.DemoReader(out).header["sessions"][0]["decks"] == "Thornwall Bastion"   # recorded by its full name


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
