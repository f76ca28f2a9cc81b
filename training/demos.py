"""Demonstrations: a bot plays both seats of many games; every decision is recorded.

``tcg demos --bot heuristic --games N --out FILE`` (``write_demos``) plays the games in the
native batched env (``VecTCG``), the bot acting for both seats through ``act_batch``, and
streams them into one file. ``load_demos`` / ``DemoReader`` read it back. The file is data
only: fixed binary records, a JSON header and NumPy ``.npz`` archives read with
``allow_pickle=False``; nothing in it is ever executed.

File format, version 1 (all integers little-endian)
====================================================

::

    file header   8 bytes  magic b"TCGDEMO\\0"
                  4 bytes  u32 H: length of the JSON header
                  H bytes  JSON header (UTF-8), see below
                  4 bytes  u32 CRC-32 of the JSON header
    chunk *       32 bytes chunk header: b"CHNK", u32 chunk index (0, 1, ...), u32 records R,
                           u32 games G, u64 payload length P, u32 CRC-32 of the payload,
                           u32 CRC-32 of the previous 28 bytes
                  P bytes  payload: an .npz archive (``numpy.savez_compressed``), arrays below
    end record    32 bytes b"DEND", u32 chunks, u64 records, u64 games, u32 reserved (0),
                           u32 CRC-32 of the previous 28 bytes
    (nothing may follow the end record)

JSON header: ``format`` ("tcg-demos"), ``version`` (1), ``action_spec_version``,
``card_table_digest`` (the compiled card pool, as in checkpoints), ``state_layout_version``,
``obs_size``, ``head_sizes``, ``max_legal``, and ``sessions``: one entry per writing run
(``bot``, ``seed``, ``games``, ``parallel``, ``first_game_id``, ``created`` UTC time). Games
played on a designer's own cards (``tcg demos --cards F --decks-file F``) also hold
``card_files`` (the text of both files, as checkpoints carry it), which must compile to the
digest; a file without it was played on the shipped cards.

A chunk holds whole games only (so every record's result is known), each game's records
contiguous and in decision order. Its arrays (R records, G games, L = sum of ``legal_count``):

==================== ================== ==================================================
array                dtype, shape       meaning
==================== ================== ==================================================
``obs``              int8 [R, OBS_SIZE] the acting player's observation
``legal_count``      int16 [R]          number of legal tuples of the decision (>= 1)
``legal``            int8 [L, 4]        the legal tuples, concatenated in canonical order:
                                        record r's rows start at the sum of the counts
                                        before it (no padding)
``action``           int8 [R, 4]        the tuple the bot chose
``seat``             int8 [R]           the acting seat (0 or 1)
``game``             int64 [R]          game id (unique in the file, 0, 1, ... in file order)
``decision``         int32 [R]          index of the decision within its game
``result``           int8 [R]           the game's final result from ``seat``'s view:
                                        +1 win, -1 loss, 0 draw or truncated at the turn cap
``game_id``          int64 [G]          the games of the chunk, in order
``game_result``      int8 [G]           result from seat 0's view
``game_truncated``   uint8 [G]          1 if the game hit the turn cap
``game_length``      int32 [G]          decisions in the game
``game_start_state`` int32 [G, S]       the engine state row the game started from
                                        (``GameState(row)`` re-plays it with the actions)
==================== ================== ==================================================

Writing is **streaming** (a chunk is written once ``chunk_records`` decisions of finished
games are buffered) and **atomic**: the file is written under a temporary name in the same
folder, fsynced and renamed at the end, so a crash leaves no file under the target name.
``append=True`` validates the existing file (format version, action spec version, card
table digest, every chunk's CRC), then writes a new file that copies the old chunks and adds
the new ones, renamed over the old only when complete. A reader needs the end record, the
CRCs and consistent arrays; otherwise it raises :class:`DemoCorruptError` (or its subclass
:class:`DemoTruncatedError`) naming the chunk and byte offset.
"""
from __future__ import annotations

import inspect
import io
import json
import os
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

FORMAT = "tcg-demos"
VERSION = 1
MAGIC = b"TCGDEMO\0"
CHUNK_MAGIC = b"CHNK"
END_MAGIC = b"DEND"
_U32 = struct.Struct("<I")
_CHUNK = struct.Struct("<4sIIIQI")     # magic, index, records, games, payload length, payload crc (28 bytes)
_END = struct.Struct("<4sIQQI")         # magic, chunks, records, games, reserved (28 bytes)
_CRC = struct.Struct("<I")
CHUNK_HEADER_SIZE = _CHUNK.size + _CRC.size   # 32
END_SIZE = _END.size + _CRC.size              # 32

RECORD_ARRAYS = ("obs", "legal_count", "action", "seat", "game", "decision", "result")
GAME_ARRAYS = ("game_id", "game_result", "game_truncated", "game_length", "game_start_state")
ARRAYS = RECORD_ARRAYS + ("legal",) + GAME_ARRAYS
_DTYPES = {"obs": np.int8, "legal_count": np.int16, "legal": np.int8, "action": np.int8, "seat": np.int8,
           "game": np.int64, "decision": np.int32, "result": np.int8, "game_id": np.int64,
           "game_result": np.int8, "game_truncated": np.uint8, "game_length": np.int32,
           "game_start_state": np.int32}


class DemoError(ValueError):
    """Base class of demonstration-file errors."""


class DemoFormatError(DemoError):
    """Not a demonstrations file, another format version, or made for another game
    (action spec, card pool, state layout): refused rather than mixed."""


class DemoCorruptError(DemoError):
    """The file's bytes are damaged; ``chunk`` (or None) and ``offset`` (byte) say where."""

    def __init__(self, path, offset: int, what: str, chunk: int | None = None):
        self.path, self.offset, self.chunk = str(path), int(offset), chunk
        where = f"chunk {chunk} at byte {offset}" if chunk is not None else f"byte {offset}"
        super().__init__(f"demos {path}: {where}: {what}")


class DemoTruncatedError(DemoCorruptError):
    """The file ends early (no end record): a write that never finished, or a cut copy."""


class BotError(RuntimeError):
    """The demonstrating bot played a tuple that is not legal (nothing is written)."""


# ----------------------------------------------------------------------------- header
def expected_header(cards=None) -> dict:
    """The header fields a file of games on ``cards`` (a :class:`prefabs.CardSet`; None: the
    shipped cards) must match to be read or appended to by this code."""
    from prefabs import shipped_cards
    from tcg_env.observation import OBS_SIZE
    from verification.layout import STATE_LAYOUT_VERSION
    from verification.spec import ACTION_SPEC_VERSION, HEAD_SIZES, MAX_LEGAL
    cards = cards or shipped_cards()
    return {"format": FORMAT, "version": VERSION, "action_spec_version": ACTION_SPEC_VERSION,
            "card_table_digest": cards.digest, "state_layout_version": STATE_LAYOUT_VERSION,
            "obs_size": OBS_SIZE, "head_sizes": list(HEAD_SIZES), "max_legal": MAX_LEGAL,
            **({} if cards.shipped else {"card_files": cards.files()})}


def header_cards(header: dict, path):
    """The :class:`prefabs.CardSet` a file's games were played on (its ``card_files``, else the
    shipped cards); :class:`DemoFormatError` for malformed ``card_files``."""
    from prefabs.cardset import carried_card_set
    try:
        return carried_card_set(header.get("card_files"))
    except ValueError as e:
        raise DemoFormatError(f"demos {path}: {e}") from None


def check_header(header: dict, path) -> None:
    """Raise :class:`DemoFormatError` when ``header`` was not written for this game and code."""
    from tcg_env.state import shown
    want = expected_header(header_cards(header, path))
    if header.get("format") != FORMAT:
        raise DemoFormatError(f"demos {path}: not a tcg demonstrations file (format {header.get('format')!r})")
    if json.dumps(header.get("version")) != json.dumps(VERSION):   # as JSON: true is not 1
        raise DemoFormatError(f"demos {path}: format version {header.get('version')!r}; this code reads and "
                              f"writes version {VERSION}")
    names = {"action_spec_version": "action spec version", "card_table_digest": "card table digest (card pool)",
             "state_layout_version": "state layout version", "obs_size": "observation size",
             "head_sizes": "head sizes", "max_legal": "legal list capacity"}
    for key, name in names.items():
        # compared as JSON text, so 800.0 or true do not pass for 800 or 1
        if json.dumps(header.get(key)) != json.dumps(want[key]):
            raise DemoFormatError(f"demos {path}: recorded with {name} {header.get(key)!r}, but this game has "
                                  f"{want[key]!r}; demonstrations of another game version cannot be used or mixed")
    sessions = header.get("sessions", [])
    if not isinstance(sessions, list) or not all(isinstance(s, dict) for s in sessions):
        raise DemoFormatError(f"demos {path}: the header's 'sessions' must be a list of session records (JSON "
                              f"objects: bot, seed, games, ...), got {shown(sessions, 60)}")


# ----------------------------------------------------------------------------- reading
@dataclass
class ChunkInfo:
    index: int
    offset: int          # byte offset of the chunk header
    records: int
    games: int
    payload_len: int
    crc: int
    first_game: int = 0  # games in the chunks before this one: its first game's id


class DemoReader:
    """Streaming reader: ``header``, then :meth:`chunks` yields each chunk's validated arrays.

    Opening checks the file header (format, version, game); every error names the byte
    offset (and chunk)."""

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise DemoError(f"demos {self.path}: " + ("is a folder, not a demonstrations file" if self.path.is_dir()
                                                      else "is not a regular file (a device, a pipe?)"
                                                      if self.path.exists() else "no such file"))
        self.size = self.path.stat().st_size
        try:
            f = self.path.open("rb")
        except OSError as e:   # e.g. no read permission
            raise DemoError(f"demos {self.path}: cannot be read ({e.strerror or e})") from None
        with f:
            head = f.read(len(MAGIC) + 4)
            if head[:len(MAGIC)] != MAGIC[:len(head)] or not head:
                raise DemoFormatError(f"demos {self.path}: not a tcg demonstrations file (bad magic at byte 0)")
            if len(head) < len(MAGIC) + 4:
                raise DemoTruncatedError(self.path, len(head), "the file ends inside the file header")
            (hlen,) = _U32.unpack_from(head, len(MAGIC))
            raw = f.read(hlen)
            if len(raw) < hlen:
                raise DemoTruncatedError(self.path, len(MAGIC) + 4 + len(raw),
                                         f"the file ends inside the JSON header ({len(raw)} of {hlen} bytes)")
            tail = f.read(4)
            if len(tail) < 4:
                raise DemoTruncatedError(self.path, len(MAGIC) + 4 + hlen, "the file ends inside the file header")
            if _U32.unpack(tail)[0] != zlib.crc32(raw):
                raise DemoCorruptError(self.path, len(MAGIC) + 4, "the JSON header's checksum does not match")
            try:
                header = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError, RecursionError) as e:   # JSONDecodeError is a ValueError,
                # as is an integer past Python's digit limit; RecursionError: nesting past the parser's depth
                raise DemoCorruptError(self.path, len(MAGIC) + 4, f"the JSON header does not parse "
                                                                  f"({type(e).__name__}: {str(e)[:200]})") from None
            if not isinstance(header, dict):
                raise DemoCorruptError(self.path, len(MAGIC) + 4, "the JSON header is not an object")
        check_header(header, self.path)
        self.header = header
        self.cards = header_cards(header, self.path)   # the prefabs.CardSet its games were played on
        self.data_start = len(MAGIC) + 4 + hlen + 4

    def _scan(self, f, payloads: bool):
        """Yield (ChunkInfo, payload bytes or None) for each chunk; validate the end record.

        Sets ``self.end_offset`` and the totals when the scan completes."""
        off = self.data_start
        f.seek(off)
        index = 0
        records = games = 0
        while True:
            head = f.read(4)
            if len(head) < 4:
                raise DemoTruncatedError(self.path, off, f"the file ends after {index} complete chunk(s) without "
                                                         f"an end record (an unfinished write?)", index)
            if head == END_MAGIC:
                rest = f.read(END_SIZE - 4)
                if len(rest) < END_SIZE - 4:
                    raise DemoTruncatedError(self.path, off, "the file ends inside the end record")
                blob = head + rest
                magic, n_chunks, n_records, n_games, _ = _END.unpack_from(blob)
                (crc,) = _CRC.unpack_from(blob, _END.size)
                if crc != zlib.crc32(blob[:_END.size]):
                    raise DemoCorruptError(self.path, off, "the end record's checksum does not match")
                if (n_chunks, n_records, n_games) != (index, records, games):
                    raise DemoCorruptError(self.path, off, f"the end record counts {n_chunks} chunks, {n_records} "
                                                           f"records, {n_games} games but the file holds {index}, "
                                                           f"{records}, {games}")
                if off + END_SIZE != self.size:
                    raise DemoCorruptError(self.path, off + END_SIZE,
                                           f"{self.size - off - END_SIZE} unexpected byte(s) after the end record")
                self.end_offset = off
                self.n_chunks, self.n_records, self.n_games = index, records, games
                return
            if head != CHUNK_MAGIC:
                raise DemoCorruptError(self.path, off, f"expected a chunk header or the end record, found bytes "
                                                       f"{head!r}", index)
            rest = f.read(CHUNK_HEADER_SIZE - 4)
            if len(rest) < CHUNK_HEADER_SIZE - 4:
                raise DemoTruncatedError(self.path, off, "the file ends inside a chunk header", index)
            blob = head + rest
            _, idx, n_rec, n_games, plen, pcrc = _CHUNK.unpack_from(blob)
            (hcrc,) = _CRC.unpack_from(blob, _CHUNK.size)
            if hcrc != zlib.crc32(blob[:_CHUNK.size]):
                raise DemoCorruptError(self.path, off, "the chunk header's checksum does not match", index)
            if idx != index:
                raise DemoCorruptError(self.path, off, f"chunk numbered {idx}, expected {index}", index)
            pstart = off + CHUNK_HEADER_SIZE
            if pstart + plen > self.size:
                raise DemoTruncatedError(self.path, pstart, f"the file ends inside the chunk's payload "
                                                            f"({self.size - pstart} of {plen} bytes)", index)
            info = ChunkInfo(index, off, n_rec, n_games, plen, pcrc, games)
            if payloads:
                payload = f.read(plen)
                if zlib.crc32(payload) != pcrc:
                    raise DemoCorruptError(self.path, pstart, "the payload's checksum does not match", index)
            else:
                crc = 0
                left = plen
                while left:
                    buf = f.read(min(left, 1 << 20))
                    crc = zlib.crc32(buf, crc)
                    left -= len(buf)
                if crc != pcrc:
                    raise DemoCorruptError(self.path, pstart, "the payload's checksum does not match", index)
                payload = None
            yield info, payload
            records += n_rec
            games += n_games
            index += 1
            off = pstart + plen

    def verify(self) -> "DemoReader":
        """Check every checksum and the end record without unpacking the arrays."""
        with self.path.open("rb") as f:
            for _ in self._scan(f, payloads=False):
                pass
        return self

    def chunks(self):
        """Yield each chunk's arrays (a dict), validated, in file order."""
        with self.path.open("rb") as f:
            for info, payload in self._scan(f, payloads=True):
                yield _unpack(self.path, info, payload, self.header, self.cards.pool)


def _ids(ids: np.ndarray) -> str:
    shown = ", ".join(str(int(x)) for x in ids[:4])
    return f"[{shown}{', ...' if len(ids) > 4 else ''}]"


def _unpack(path, info: ChunkInfo, payload: bytes, header: dict, pool=None) -> dict:
    """A chunk's arrays, validated; start states against ``pool`` (the file's cards; None: shipped)."""
    pos = info.offset + CHUNK_HEADER_SIZE

    def bad(what):
        return DemoCorruptError(path, pos, what, info.index)

    from prefabs import default_pool as shipped_pool
    from tcg_env.state import state_rows_problem
    from verification.layout import STATE_SIZE
    R, G = info.records, info.games
    shapes = {"obs": (R, header["obs_size"]), "legal_count": (R,), "action": (R, 4), "seat": (R,), "game": (R,),
              "decision": (R,), "result": (R,), "game_id": (G,), "game_result": (G,), "game_truncated": (G,),
              "game_length": (G,), "game_start_state": (G, STATE_SIZE)}

    def check_form(k, shape, dtype):
        if dtype != _DTYPES[k]:
            raise bad(f"array {k!r} has dtype {dtype}, expected {np.dtype(_DTYPES[k])}")
        if k in shapes and shape != shapes[k]:
            raise bad(f"array {k!r} has shape {shape}, expected {shapes[k]}")
        if k == "legal" and (len(shape) != 2 or shape[1] != 4 or shape[0] > R * header["max_legal"]):
            raise bad(f"array 'legal' has shape {shape}, expected (L, 4) with L at most records x max_legal")

    try:
        with np.load(io.BytesIO(payload), allow_pickle=False) as z:
            if set(z.files) != set(ARRAYS):
                raise bad(f"the payload's arrays are {sorted(z.files)}, expected {sorted(ARRAYS)}")
            for k in ARRAYS:   # each array's form from its .npy header, before any is decompressed: a small
                with z.zip.open(k + ".npy") as f:   # payload must not make the reader allocate what it declares
                    version = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read(f)
                check_form(k, shape, dtype)
            a = {k: z[k] for k in ARRAYS}
    except DemoCorruptError:
        raise
    except Exception as e:  # zipfile / numpy raise many types for damaged archives
        raise bad(f"the payload is not a readable .npz archive ({type(e).__name__}: {e})") from None
    # the header matched this card pool; a start state is a row GameState(row) replays, so it is checked
    # as any state row from outside is (the kernels trust their rows)
    problem = state_rows_problem(a["game_start_state"], pool if pool is not None else shipped_pool())
    if problem is not None:
        raise bad(f"a game's start state is not one this engine can hold ({problem})")
    cnt = a["legal_count"].astype(np.int64)
    if R and (cnt.min() < 1 or cnt.max() > header["max_legal"]):
        raise bad("a legal_count is outside 1..max_legal")
    if a["legal"].shape != (int(cnt.sum()), 4):
        raise bad(f"array 'legal' has shape {a['legal'].shape}, expected ({int(cnt.sum())}, 4)")
    hs = np.asarray(header["head_sizes"])
    for k in ("legal", "action"):
        if a[k].size and (np.any(a[k] < 0) or np.any(a[k] >= hs)):
            raise bad(f"array {k!r} holds a value outside the head sizes")
    if np.any((a["seat"] != 0) & (a["seat"] != 1)) or np.any(np.abs(a["result"]) > 1):
        raise bad("a seat is not 0/1 or a result is not -1/0/+1")
    if not np.array_equal(a["game_id"], info.first_game + np.arange(G)):
        raise bad(f"the chunk's game ids are {_ids(a['game_id'])}, expected {_ids(info.first_game + np.arange(G))}: "
                  f"games are numbered 0, 1, ... in file order")
    if np.any(a["game_truncated"] > 1) or np.any((a["game_truncated"] == 1) & (a["game_result"] != 0)):
        raise bad("a game_truncated is not 0/1, or a truncated game has a result other than 0")
    # records are the chunk's games in order, each contiguous
    if a["game_length"].sum() != R or np.any(a["game_length"] < 1):
        raise bad("the game lengths do not add up to the record count")
    if not np.array_equal(a["game"], np.repeat(a["game_id"], a["game_length"])):
        raise bad("the records' game ids do not follow the chunk's games")
    starts = (np.cumsum(a["game_length"]) - a["game_length"]).astype(np.int64)   # each game's first record
    want_dec = np.arange(R) - np.repeat(starts, a["game_length"])
    if not np.array_equal(a["decision"], want_dec):
        raise bad("the decision indices are not 0, 1, ... within each game")
    sign = np.where(a["seat"] == 0, 1, -1)
    if not np.array_equal(a["result"], (np.repeat(a["game_result"], a["game_length"]) * sign).astype(np.int8)):
        raise bad("a record's result disagrees with its game's result")
    return a


@dataclass
class Demos:
    """All records of a file in memory. ``legal_offset[r]:legal_offset[r] + legal_count[r]``
    are record r's rows of ``legal``."""
    header: dict
    obs: np.ndarray
    legal: np.ndarray
    legal_offset: np.ndarray
    legal_count: np.ndarray
    action: np.ndarray
    seat: np.ndarray
    game: np.ndarray
    decision: np.ndarray
    result: np.ndarray
    game_id: np.ndarray
    game_result: np.ndarray
    game_truncated: np.ndarray
    game_length: np.ndarray
    game_start_state: np.ndarray

    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @cached_property
    def cards(self):
        """The :class:`prefabs.CardSet` the games were played on (the header's ``card_files``,
        checked when the file was read; else the shipped cards)."""
        from prefabs.cardset import carried_card_set
        return carried_card_set(self.header.get("card_files"))

    def legal_of(self, r: int) -> np.ndarray:
        o = int(self.legal_offset[r])
        return self.legal[o:o + int(self.legal_count[r])]

    def padded_legal(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """(int8 [B, W, 4], int32 [B]): the legal lists of records ``idx``, padded with zeros
        to the longest of them (rows past the count are never read)."""
        idx = np.asarray(idx, np.int64)
        cnt = self.legal_count[idx].astype(np.int64)
        W = int(cnt.max()) if len(idx) else 1
        col = np.arange(W)
        valid = col[None, :] < cnt[:, None]
        rows = np.where(valid, self.legal_offset[idx][:, None] + col[None, :], 0)
        out = self.legal[rows]
        out[~valid] = 0
        return out, cnt.astype(np.int32)


def load_demos(path) -> Demos:
    """Read a whole file into memory (every chunk validated)."""
    rd = DemoReader(path)
    parts = list(rd.chunks())
    if not parts:
        cat = {k: np.zeros((0,) + ((rd.header["obs_size"],) if k == "obs" else (4,) if k in ("legal", "action")
                                   else ()), _DTYPES[k]) for k in ARRAYS if k != "game_start_state"}
        from verification.layout import STATE_SIZE
        cat["game_start_state"] = np.zeros((0, STATE_SIZE), np.int32)
    else:
        cat = {k: np.concatenate([p[k] for p in parts]) for k in ARRAYS}
    cnt = cat["legal_count"].astype(np.int32)
    off = np.zeros(len(cnt) + 1, np.int64)
    np.cumsum(cnt, out=off[1:])
    return Demos(rd.header, cat["obs"], cat["legal"], off, cnt, cat["action"], cat["seat"], cat["game"],
                 cat["decision"], cat["result"], cat["game_id"], cat["game_result"], cat["game_truncated"],
                 cat["game_length"], cat["game_start_state"])


# ----------------------------------------------------------------------------- writing
class _Writer:
    """Writes a new file under a temporary name; :meth:`commit` renames it into place."""

    def __init__(self, path: Path, header: dict, base: DemoReader | None):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
        umask = os.umask(0)
        os.umask(umask)
        # mkstemp makes the file 0600: give it the mode a plain open() would (or the replaced file's)
        os.fchmod(fd, (base.path.stat().st_mode & 0o777) if base is not None else 0o666 & ~umask)
        self.f = os.fdopen(fd, "wb")
        raw = json.dumps(header, sort_keys=True).encode("utf-8")
        self.f.write(MAGIC + _U32.pack(len(raw)) + raw + _U32.pack(zlib.crc32(raw)))
        self.chunks = self.records = self.games = 0
        if base is not None:   # copy the existing chunks byte for byte (already checksummed)
            with base.path.open("rb") as src:
                src.seek(base.data_start)
                left = base.end_offset - base.data_start
                while left:
                    buf = src.read(min(left, 1 << 22))
                    if not buf:
                        raise DemoTruncatedError(base.path, base.end_offset - left, "the file shrank while copying")
                    self.f.write(buf)
                    left -= len(buf)
            self.chunks, self.records, self.games = base.n_chunks, base.n_records, base.n_games

    def write_chunk(self, arrays: dict, n_records: int, n_games: int) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        payload = buf.getvalue()
        head = _CHUNK.pack(CHUNK_MAGIC, self.chunks, n_records, n_games, len(payload), zlib.crc32(payload))
        self.f.write(head + _CRC.pack(zlib.crc32(head)) + payload)
        self.chunks += 1
        self.records += n_records
        self.games += n_games

    def commit(self) -> None:
        end = _END.pack(END_MAGIC, self.chunks, self.records, self.games, 0)
        self.f.write(end + _CRC.pack(zlib.crc32(end)))
        self.f.flush()
        os.fsync(self.f.fileno())
        self.f.close()
        os.replace(self.tmp, self.path)
        try:   # make the rename durable
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass

    def abort(self) -> None:
        try:
            self.f.close()
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


class _Pending:
    """Finished games waiting for the next chunk."""

    def __init__(self):
        self.clear()

    def clear(self):
        self.parts = {k: [] for k in ARRAYS}
        self.records = 0
        self.games = 0

    def add_game(self, g: dict) -> None:
        for k in ARRAYS:
            self.parts[k].append(g[k])
        self.records += int(g["game_length"][0])
        self.games += 1

    def arrays(self) -> dict:
        return {k: np.concatenate(v).astype(_DTYPES[k], copy=False) for k, v in self.parts.items()}


def _bot_actor(bot, name: str):
    """A function ``act(env, rows, out)`` writing the bot's tuples for ``rows`` into ``out``.

    Bots come in two shapes: state-row bots (``act_batch(state, cards, legal, legal_n, out=,
    rows=)``, the numba bots) and observation bots (``act_batch(observations, legal_tuples,
    legal_count)``, the checkpoint bot)."""
    params = inspect.signature(bot.act_batch).parameters
    if "state" in params:
        with_rows = "rows" in params

        def act(env, rows, out):
            if with_rows:
                bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count, out=out, rows=rows)
            else:
                full = bot.act_batch(env.state, env.cards, env.legal_tuples, env.legal_count)
                out[rows] = full[rows]
        return act
    if "observations" in params:
        def act(env, rows, out):
            if len(rows):
                width = int(env.legal_count[rows].max())
                out[rows] = bot.act_batch(env.observations[rows], env.legal_tuples[rows, :width],
                                          env.legal_count[rows])
        return act
    raise ValueError(f"bot {name!r}: act_batch{inspect.signature(bot.act_batch)} is neither the state-row nor the "
                     f"observation form")


def write_demos(path, bot: str = "heuristic", games: int = 100, seed: int = 0, append: bool = False,
                parallel: int = 128, chunk_records: int = 8192, decks=None, progress=None,
                _after_chunk=None, cards=None) -> dict:
    """Play ``games`` games with ``bot`` in both seats and write (or append) them to ``path``.

    ``parallel`` games run at once in the batched env (each new game starts in the row a
    finished one left); the result depends only on (bot, games, seed, parallel, decks).
    ``progress(games_done, records_done)`` is called as games finish, both counting this run's
    games and decisions only (not those an appended file already held). ``cards``: the
    :class:`prefabs.CardSet` to play (None: an appended file's own cards, else the shipped
    ones); an appended file must have been played on the same cards and decks. Returns a summary."""
    from prefabs import deck_choice, shipped_cards
    from tcg_env import VecTCG
    from tcg_env.bots import make_bot
    from tcg_env.state import check_seed

    path = Path(path)
    if not isinstance(games, (int, np.integer)) or games < 1:
        raise ValueError(f"games must be >= 1, got {games!r}")
    if parallel < 1 or chunk_records < 1:
        raise ValueError("parallel and chunk_records must be >= 1")
    seed = check_seed(seed)
    base = None
    if path.exists():
        if not append:
            raise FileExistsError(f"{path} exists: pass append=True (--append) to add games to it, or remove it")
        base = DemoReader(path).verify()
        cards = cards or base.cards
        differ = base.cards.difference(cards, ("the file", "these games"))
        if differ:
            raise DemoFormatError(f"demos {path} holds games on {base.cards.describe()}, and these would be on "
                                  f"{cards.describe()} ({differ}): one file holds games of one card set")
        header = dict(base.header)
        header["sessions"] = list(header.get("sessions", []))
    else:
        cards = cards or shipped_cards()
        header = {**expected_header(cards), "sessions": []}
    if isinstance(decks, str):   # 'all' (any case) is None; a deck is recorded by its full name
        decks = deck_choice(decks, cards.decks)
    first_id = base.n_games if base is not None else 0
    header["sessions"].append({"bot": bot, "seed": int(seed), "games": int(games), "parallel": int(parallel),
                               "decks": decks if decks is None or isinstance(decks, str) else str(decks),
                               "first_game_id": first_id,
                               "created": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    player = make_bot(bot, seed=seed, cards=cards)   # ValueError for an unknown name before any file is made
    act = _bot_actor(player, bot)
    P = int(min(parallel, games))
    if decks is not None:
        env_decks = cards.decks[decks]
    elif cards.shipped:
        env_decks = None   # VecTCG deals the prebuilt pairings in turn
    else:   # the same deal over the file's decks
        env_decks = cards.deal(P)
    env = VecTCG(P, seed=seed, decks=env_decks, pool=cards.pool)
    t0 = time.time()
    writer = _Writer(path, header, base)
    base_records = base.n_records if base is not None else 0
    try:
        hist_obs, hist_cnt, hist_legal, hist_act, hist_seat = {}, {}, {}, {}, {}
        start_step = np.zeros(P, np.int64)
        start_state = env.state.copy()
        active = np.ones(P, np.bool_)
        started, done, written = P, 0, 0
        pending = _Pending()
        wins = np.zeros(3, np.int64)   # seat 0 wins, seat 1 wins, draws/truncations
        t = 0
        while done < games:
            rows = np.nonzero(active)[0]
            acts = env.legal_tuples[:, 0].astype(np.int32)   # rows no longer recorded play any legal tuple
            act(env, rows, acts)
            width = int(env.legal_count.max())
            hist_obs[t] = env.observations.copy()
            hist_cnt[t] = env.legal_count.copy()
            hist_legal[t] = env.legal_tuples[:, :width].copy()
            hist_act[t] = acts.copy()
            hist_seat[t] = env.current_player.copy()
            env.step(acts)
            if env.illegal_counts[rows].any():
                i = int(rows[np.nonzero(env.illegal_counts[rows])[0][0]])
                raise BotError(f"bot {bot!r} played {acts[i].tolist()}, which is not legal (game row {i}); "
                               f"no demonstrations were written")
            ended = (env.terminals | env.truncations) & active
            for i in np.nonzero(ended)[0]:
                steps = range(int(start_step[i]), t + 1)
                seat = np.array([hist_seat[s][i] for s in steps], np.int8)
                res0 = int(env.seat_rewards[i, 0])
                n = len(steps)
                gid = first_id + written
                pending.add_game({
                    "obs": np.stack([hist_obs[s][i] for s in steps]),
                    "legal_count": np.array([hist_cnt[s][i] for s in steps], np.int16),
                    "legal": np.concatenate([hist_legal[s][i, :hist_cnt[s][i]] for s in steps]),
                    "action": np.array([hist_act[s][i] for s in steps], np.int8),
                    "seat": seat, "game": np.full(n, gid, np.int64), "decision": np.arange(n, dtype=np.int32),
                    "result": np.where(seat == 0, res0, -res0).astype(np.int8),
                    "game_id": np.array([gid], np.int64), "game_result": np.array([res0], np.int8),
                    "game_truncated": np.array([bool(env.truncations[i])], np.uint8),
                    "game_length": np.array([n], np.int32), "game_start_state": start_state[i:i + 1].copy()})
                wins[0 if res0 > 0 else 1 if res0 < 0 else 2] += 1
                written += 1
                done += 1
                if started < games:
                    started += 1
                    start_step[i] = t + 1
                    start_state[i] = env.state[i]
                else:
                    active[i] = False
            t += 1
            keep_from = int(start_step[active].min()) if active.any() else t
            for s in [s for s in hist_obs if s < keep_from]:
                for h in (hist_obs, hist_cnt, hist_legal, hist_act, hist_seat):
                    del h[s]
            if pending.records >= chunk_records or (done >= games and pending.games):
                writer.write_chunk(pending.arrays(), pending.records, pending.games)
                pending.clear()
                if _after_chunk is not None:
                    _after_chunk(writer)
            if progress is not None and ended.any():
                progress(done, writer.records - base_records + pending.records)
        records_new = writer.records - base_records
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        env.close()
    return {"out": str(path), "bot": bot, "games": int(games), "records": int(records_new),
            "file_games": writer.games, "file_records": writer.records, "file_chunks": writer.chunks,
            "bytes": path.stat().st_size, "seconds": round(time.time() - t0, 2),
            "decisions_per_game": round(records_new / games, 2),
            "seat0_wins": int(wins[0]), "seat1_wins": int(wins[1]), "draws_or_truncated": int(wins[2]),
            "appended": base is not None}
