"""Game replays as versioned JSON: save, load (validated), and step through.

A replay is everything needed to re-create a game exactly: the seed, the two prebuilt deck
names (by seat) and the action tuples in the order they were taken. The engine is
deterministic, so re-applying the actions from ``GameState.new(deck0, deck1, seed)`` with
checked apply gives back every state. Replays are JSON, never pickle::

    {"format": "tcg-replay", "version": 1, "action_spec_version": 1,
     "seed": 3, "decks": ["Emberfang Rush", "Thornwall Bastion"],
     "seats": {"human": 0, "bot": "heuristic"},
     "result": {"line": "Result: you win", "winner": 0, "truncated": false, ...},
     "meta": {"created": "...", "tool": "tcg play", "bot_seed": 3},
     "actions": [[1, 0, 0, 0], [1, 5, 0, 0], [2, 22, 0, 0], ...]}

Each action is the engine's tuple ``[primary, sub1, sub2, sub3]``; who took it is whoever
was to decide at that point (:attr:`GameState.current_player`).

A game played on a designer's own cards (``tcg play`` against a checkpoint trained on them,
or with ``--cards``) also holds ``"card_files": {"cards": TEXT, "decks": TEXT}``, the text of
its cards and decks files, and ``decks`` names decks of those; the viewer rebuilds the cards
from it, so the replay needs no other file.

API: :func:`save_replay`, :func:`load_replay` (raises :class:`ReplayError` naming the
problem), :func:`replay_states` (a generator of :class:`ReplayStep`), :func:`result_line`
and :func:`run_replay` (the ``tcg replay`` viewer).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from verification.spec import ACTION_SPEC_VERSION

from .atomic import atomic_write

REPLAY_FORMAT = "tcg-replay"
REPLAY_VERSION = 1


class ReplayError(ValueError):
    """A replay that cannot be read or does not re-play: the message names the problem.

    ``path`` is the file (if any) and ``position`` the 0-based index into ``actions`` of the
    offending action (None when the problem is not a single action)."""

    def __init__(self, problem: str, path: str | os.PathLike | None = None, position: int | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.position = position
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


@dataclass
class Replay:
    """One recorded game. ``decks`` are deck names by seat (prebuilt decks, or those of
    ``card_files``: the text of the cards and decks files of a game on other cards, as
    :meth:`prefabs.CardSet.files` gives it); ``actions`` are tuples."""
    seed: int
    decks: tuple[str, str]
    actions: list[tuple[int, int, int, int]] = field(default_factory=list)
    seats: dict = field(default_factory=lambda: {"human": None, "bot": None})
    result: dict | None = None
    meta: dict = field(default_factory=dict)
    version: int = REPLAY_VERSION
    action_spec_version: int = ACTION_SPEC_VERSION
    card_files: dict | None = None

    @property
    def human_seat(self) -> int | None:
        h = self.seats.get("human") if isinstance(self.seats, dict) else None
        return h if h in (0, 1) else None

    def to_json(self) -> dict:
        return {"format": REPLAY_FORMAT, "version": self.version, "action_spec_version": self.action_spec_version,
                "seed": int(self.seed), "decks": list(self.decks), "seats": dict(self.seats),
                "result": self.result, "meta": dict(self.meta),
                **({} if self.card_files is None else {"card_files": dict(self.card_files)}),
                "actions": [[int(x) for x in a] for a in self.actions]}

    def new_state(self):
        """The game's starting state (before any action)."""
        from prefabs.cardset import carried_card_set
        from .state import GameState
        cards = carried_card_set(self.card_files)
        return GameState.new(cards.decks[self.decks[0]], cards.decks[self.decks[1]], int(self.seed), pool=cards.pool)


@dataclass
class ReplayStep:
    """One step of :func:`replay_states`.

    The first step has ``index = -1`` and ``action = None`` (the starting state). Every later
    step is action ``index`` (0-based), taken by ``player`` on turn ``turn``, described in words
    from that player's view (``text``, computed before it was applied); ``state`` is an
    independent copy of the state *after* it."""
    index: int
    player: int | None
    action: tuple[int, int, int, int] | None
    text: str
    state: object
    turn: int = 1


# ----------------------------------------------------------------------------- results
def result_line(state, human: int | None = None) -> str:
    """The one-line result, from the human's view when ``human`` is a seat:
    ``Result: you win`` / ``you lose`` / ``draw`` / ``truncated at the turn cap`` (or ``decision cap``), ``Result: P0 wins``
    without a human, and ``Result: unfinished (stopped after N decisions)`` for a game still running."""
    if not state.done:
        return f"Result: unfinished (stopped after {state.decisions} decisions)"
    if state.truncated:
        from .render import truncation_cap
        return f"Result: truncated at the {truncation_cap(state.row)}"
    w = state.winner
    if w == 2:
        return "Result: draw"
    if w in (0, 1):
        if human in (0, 1):
            return "Result: you win" if w == human else "Result: you lose"
        return f"Result: P{w} wins"
    return "Result: over (no winner recorded)"


def result_record(state, human: int | None = None) -> dict:
    """The ``result`` object stored in a replay."""
    return {"line": result_line(state, human), "finished": bool(state.done), "winner": state.winner,
            "truncated": bool(state.truncated), "turn": state.turn, "decisions": state.decisions}


# ----------------------------------------------------------------------------- save
def save_replay(replay: Replay, path: str | os.PathLike) -> Path:
    """Write ``replay`` as JSON (atomically; parent folders are created). Returns the path."""
    path = Path(path)
    data = replay.to_json()
    actions = data.pop("actions")
    head = json.dumps(data, indent=2, ensure_ascii=False)
    body = ",\n    ".join(json.dumps(a) for a in actions)
    text = head[:-2] + ',\n  "actions": [' + (f"\n    {body}\n  " if actions else "") + "]\n}\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return path


# ----------------------------------------------------------------------------- load
def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


MAX_NAME = 4200   # characters in a bot's name: a checkpoint bot's holds its path (at most 4,096 bytes on Linux)


def _plain_text(s) -> bool:
    """A string a terminal prints as itself: printable characters only (no ESC or other control
    character, no line break) that UTF-8 can encode (no lone surrogate), at most MAX_NAME."""
    if not isinstance(s, str) or len(s) > MAX_NAME or not s.isprintable():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def replay_from_json(data, source: str | os.PathLike | None = None) -> Replay:
    """A :class:`Replay` from parsed JSON, checking its structure (not the actions' legality)."""
    from prefabs.cardset import carried_card_set

    from .state import shown

    def bad(problem: str, position: int | None = None):
        return ReplayError(problem, source, position)

    if not isinstance(data, dict):
        raise bad(f"a replay is a JSON object, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != REPLAY_FORMAT:
        raise bad(f"not a tcg replay: format is {shown(fmt, 80)}, expected {REPLAY_FORMAT!r}")
    ver = data.get("version")
    if not _is_int(ver) or ver != REPLAY_VERSION:
        raise bad(f"unsupported replay version {shown(ver, 80)}: this tool reads version {REPLAY_VERSION}")
    spec = data.get("action_spec_version")
    if not _is_int(spec) or spec != ACTION_SPEC_VERSION:
        raise bad(f"recorded with action spec version {shown(spec, 80)}, but this engine uses version {ACTION_SPEC_VERSION}")
    seed = data.get("seed")
    if not _is_int(seed) or not 0 <= seed < 2 ** 64:
        raise bad(f"seed must be an integer in 0..2**64-1, got {shown(seed, 80)}")
    files = data.get("card_files")
    try:   # the cards and decks it was played with: its own files' text, else the shipped ones
        known = carried_card_set(files).decks
    except ValueError as e:
        raise bad(str(e)) from None
    decks = data.get("decks")
    kind = "prebuilt decks" if files is None else "the decks of its card_files"
    if not isinstance(decks, list) or len(decks) != 2:
        raise bad(f"decks must be a list of two {'prebuilt ' if files is None else ''}deck names, got {shown(decks, 80)}")
    for d in decks:
        if not isinstance(d, str) or d not in known:
            raise bad(f"unknown deck {shown(d, 80)}; {kind}: {', '.join(known)}")
    seats = data.get("seats", {})
    if not isinstance(seats, dict):
        raise bad(f"seats must be an object, got {shown(seats, 80)}")
    human = seats.get("human")
    if human is not None and (not _is_int(human) or human not in (0, 1)):
        raise bad(f"seats.human must be 0, 1 or null, got {shown(human, 80)}")
    bot = seats.get("bot")   # printed by the viewer: plain text only, never a terminal escape sequence
    if bot is not None and not _plain_text(bot):
        raise bad(f"seats.bot must be null or a bot's name (at most {MAX_NAME} printable characters, no control "
                  f"or escape characters), got {shown(bot, 80)}")
    actions = data.get("actions")
    if not isinstance(actions, list):
        raise bad(f"actions must be a list of [primary, sub1, sub2, sub3] tuples, got {type(actions).__name__}")
    tuples = []
    for k, a in enumerate(actions):
        if not isinstance(a, list) or len(a) != 4 or not all(_is_int(x) for x in a):
            raise bad(f"actions[{k}] = {shown(a, 80)} is not a list of 4 integers", k)
        tuples.append(tuple(a))
    result = data.get("result")
    if result is not None and not isinstance(result, dict):
        raise bad(f"result must be an object or null, got {shown(result, 80)}")
    meta = data.get("meta", {})
    return Replay(seed=seed, decks=(decks[0], decks[1]), actions=tuples, seats=dict(seats), result=result,
                  meta=dict(meta) if isinstance(meta, dict) else {}, version=ver, action_spec_version=spec,
                  card_files=None if files is None else dict(files))


def load_replay(path: str | os.PathLike, check: bool = True) -> Replay:
    """Read and validate a replay file.

    Raises :class:`ReplayError` naming the problem: a missing or unreadable file, bad JSON, a
    wrong format, version or action-spec version, bad fields, an illegal action at position k
    (with the rule it breaks), or a stored result that the re-played game does not reach.
    With ``check=False`` only the file's structure is checked, not the actions."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReplayError("replay file not found", path) from None
    except IsADirectoryError:
        raise ReplayError("is a directory, not a replay file", path) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ReplayError(f"cannot read the replay file ({e})", path) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ReplayError(f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", path) from None
    except (RecursionError, ValueError) as e:   # nested past the parser's depth, or an integer of 5,000 digits
        raise ReplayError(f"not a replay: the JSON cannot be read ({type(e).__name__}: {str(e)[:120]})", path) from None
    replay = replay_from_json(data, path)
    if check:
        final = None
        for step in replay_states(replay, source=path):
            final = step.state
        _check_result(replay, final, path)
    return replay


def _check_result(replay: Replay, final, source) -> None:
    res = replay.result
    if not res:
        return
    got = result_record(final, replay.human_seat)
    for key in ("finished", "winner", "truncated"):
        if key in res and res[key] != got[key]:
            raise ReplayError(f"the stored result says {key}={res[key]!r} but re-playing the actions gives "
                              f"{key}={got[key]!r}", source)


# ----------------------------------------------------------------------------- replay
def replay_states(replay: Replay, source: str | os.PathLike | None = None) -> Iterator[ReplayStep]:
    """Re-play ``replay`` from ``GameState.new(deck0, deck1, seed)`` with checked apply.

    Yields the starting state (``index=-1``), then one :class:`ReplayStep` per action. An
    action the rules do not allow (or one after the game ended) raises :class:`ReplayError`
    naming its position and the rule it breaks."""
    from verification.errors import ActionError

    from .render import describe_action

    state = replay.new_state()
    yield ReplayStep(-1, None, None, "start of the game", state.clone(), state.turn)
    for k, a in enumerate(replay.actions):
        player, turn = state.current_player, state.turn
        text = describe_action(state, a)
        try:
            state.apply(a)
        except ActionError as e:
            where = f"actions[{k}] = {list(a)}"
            raise ReplayError(f"{where} is illegal: {e.reason}", source, k) from None
        yield ReplayStep(k, player, tuple(int(x) for x in a), text, state.clone(), turn)


def _who(replay: Replay, player: int | None) -> str:
    if player not in (0, 1):
        return "-"
    human = replay.human_seat
    bot = replay.seats.get("bot") if isinstance(replay.seats, dict) else None
    if human is not None:
        return f"P{player} (you)" if player == human else f"P{player} (bot{' ' + str(bot) if bot else ''})"
    return f"P{player}"


def run_replay(path: str | os.PathLike, show_all: bool = False, perspective: int | None = None,
               boards: bool = True, input: IO[str] | None = None, output: IO[str] | None = None) -> int:
    """The ``tcg replay`` viewer: print each decision (whose, in words) and the board after it.

    On a terminal (and without ``show_all``) it waits for Enter between decisions (``a`` prints
    the rest, ``q`` stops); otherwise it prints everything. Ends with the result line.
    Returns an exit status (2 when the replay cannot be loaded)."""
    from .render import render_state

    inp = sys.stdin if input is None else input
    out = sys.stdout if output is None else output
    try:
        replay = load_replay(path)
    except ReplayError as e:
        print(f"tcg replay: {e}", file=sys.stderr if output is None else out)
        return 2
    interactive = not show_all and _isatty(inp) and _isatty(out)

    def board(state) -> None:
        if boards:
            print(render_state(state, perspective), file=out)
            print(file=out)

    seats = replay.seats if isinstance(replay.seats, dict) else {}
    print(f"Replay {path}: seed {replay.seed}, P0 {replay.decks[0]} vs P1 {replay.decks[1]}, "
          f"{len(replay.actions)} decisions"
          + (f", you were P{seats['human']} against the {seats.get('bot') or 'unnamed'} bot" if replay.human_seat is not None
             else ""), file=out)
    final, quiet = None, False
    for step in replay_states(replay, source=path):
        final = step.state
        if quiet:
            continue   # stopped by the viewer: run on silently to the final state
        if step.action is not None:
            print(f"#{step.index + 1} · turn {step.turn} · {_who(replay, step.player)}: {step.text}", file=out)
        board(step.state)
        if interactive and step.index + 1 < len(replay.actions):
            out.write("[Enter] next · a: all the rest · q: quit> ")
            out.flush()
            ans = inp.readline()
            if ans == "" or ans.strip().lower() in ("q", "quit"):
                print(file=out)
                quiet = True
            elif ans.strip().lower() in ("a", "all"):
                interactive = False
    if final is not None:
        print(result_line(final, replay.human_seat), file=out)
    out.flush()
    return 0


def replay_command(args) -> int:
    """``tcg replay`` with parsed arguments; returns the exit status."""
    try:
        return run_replay(args.file, show_all=args.all, perspective=args.perspective, boards=not args.no_board)
    except BrokenPipeError:   # `tcg replay FILE --all | head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


__all__ = ["REPLAY_FORMAT", "REPLAY_VERSION", "Replay", "ReplayError", "ReplayStep", "load_replay", "replay_from_json",
           "replay_command", "replay_states", "result_line", "result_record", "run_replay", "save_replay"]
