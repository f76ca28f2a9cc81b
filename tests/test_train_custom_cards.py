"""Training on a designer's own cards: ``TrainConfig.cards_file`` and ``decks_file`` reach the
games, the policy's card-text input, the evaluations and the checkpoints; a checkpoint carries
the files' text, so ``tcg eval`` plays its decks without the files, and a resumed run refuses
files that no longer compile to the checkpoint's cards."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from prefabs import default_pool, deck_ids, load_card_set, load_decks, load_pool
from training.cards import CardSet, checkpoint_cards, run_cards, shipped_cards
from training.checkpoint import CheckpointError, atomic_save, load_checkpoint, load_policy, policy_cards
from training.config import TrainConfig
from training.ppo import Trainer

from test_train import TINY, params_digest, run_updates

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
CARDS, DECKS = str(EXAMPLES / "cards.toml"), str(EXAMPLES / "decks.toml")


def own(tmp_path, **kw) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), "cards_file": CARDS, "decks_file": DECKS,
                                  **kw})


@pytest.fixture(scope="module")
def example():
    pool = load_pool(CARDS)
    return pool, load_decks(pool, DECKS)


def test_the_config_reads_the_files_and_names_decks_from_them(tmp_path, example):
    pool, decks = example
    cfg = own(tmp_path, decks="reef", ent_deck_scale="rip=0.5")
    assert cfg.decks == "Reefwall" and cfg.ent_deck_scale == "Riptide=0.5"   # stored by full name
    cards = cfg.cards()
    assert not cards.shipped and list(cards.decks) == list(decks)
    assert np.array_equal(cards.pool.table, pool.table)
    cfg = own(tmp_path, deck_weights="Reefwall=3")
    assert cfg.deck_weights == "Reefwall=3"
    # the shipped decks' names mean nothing on these cards
    with pytest.raises(ValueError, match=r"config: decks: unknown deck 'Emberfang'; decks: Reefwall, Riptide"):
        own(tmp_path, decks="Emberfang")
    with pytest.raises(ValueError, match="naming one of the run's decks|unknown deck 'Thornwall Bastion'"):
        own(tmp_path, deck_weights="Thornwall Bastion=2")
    # no files: the shipped cards, as before
    assert TrainConfig.from_dict({**TINY, "out": str(tmp_path / "s")}).cards().shipped


def test_deck_weights_deal_the_run_s_own_pairings(tmp_path):
    """deck_weights names the file's decks and deals their pairings: Reefwall=3 against Riptide's 1
    gives the four pairings 9 : 3 : 3 : 1 of 16 games."""
    tr = Trainer(own(tmp_path, num_envs=16, deck_weights="reef=3"), quiet=True)
    pairs = [tuple(r) for r in tr.own_deck.tolist()]
    assert {p: pairs.count(p) for p in set(pairs)} == {(0, 0): 9, (0, 1): 3, (1, 0): 3, (1, 1): 1}
    tr.close()


@pytest.mark.parametrize("files, says", [
    (dict(cards_file="nowhere.toml"), r"config: cards_file: cards file nowhere.toml cannot be read \(No such file"),
    (dict(cards_file=CARDS), r"config: cards_file: .*cards.toml: the prebuilt decks need cards it lacks \(.*"
                             r"'Grask, Ember Warlord'.*give a decks file"),
    (dict(cards_file=" "), "config: cards_file: a cards file is named by its path, got ' '"),
    (dict(decks_file=CARDS), "config: decks_file: .*unknown top-level key"),
    (dict(cards_file=DECKS, decks_file=DECKS), "config: cards_file: .*unknown top-level key"),
    (dict(cards_file=CARDS, decks_file="EMPTY"), r"config: decks_file: .*non-empty \[\[deck\]\] array"),
])
def test_unusable_card_files_are_refused_by_setting(tmp_path, files, says):
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    files = {k: str(empty) if v == "EMPTY" else v for k, v in files.items()}
    with pytest.raises(ValueError, match=says):
        TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), **files})


def test_a_run_on_its_own_cards_plays_them_and_its_checkpoints_carry_them(tmp_path, example):
    pool, decks = example
    cfg = own(tmp_path, card_text=True, eval_every=1, eval_games=8, card_stats_every=1)
    tr, stats = run_updates(cfg, 2)
    assert np.array_equal(tr.env.cards, pool.table)
    rows = {tuple(deck_ids(d, pool)) for d in decks.values()}
    assert {tuple(r) for r in tr.env.decks.reshape(-1, tr.env.decks.shape[-1])} == rows   # both decks dealt
    assert set(np.unique(tr.own_deck)) == {0, 1}
    assert all(s["illegal_actions"] == 0 for s in stats)
    # the card-text input reads these cards' abilities, not the shipped ones'
    from policy.model import card_text_table
    assert torch.equal(tr.policy.card_text, torch.as_tensor(card_text_table(128, pool.table)))
    assert not torch.equal(tr.policy.card_text, torch.as_tensor(card_text_table(128)))
    # the evaluation deals the run's decks
    ev = tr.evaluate_now()
    assert set(ev) >= {"eval/heuristic_by_own_deck/Reefwall", "eval/heuristic_by_own_deck/Riptide"}
    # every checkpoint and policy.pt carry the files' text and rebuild the same cards
    for path in [*sorted((tmp_path / "run" / "checkpoints").glob("ckpt_*.pt")), tmp_path / "run" / "policy.pt"]:
        data = load_checkpoint(path)
        assert data["card_files"] == {"cards": Path(CARDS).read_text(), "decks": Path(DECKS).read_text()}
        assert checkpoint_cards(data, path).same_as(cfg.cards())
    assert policy_cards(tmp_path / "run" / "policy.pt").same_as(cfg.cards())
    # a policy of these cards loads for them, and only for them
    pol = load_policy(tmp_path / "run" / "policy.pt", cards=cfg.cards())
    assert params_digest(pol) == params_digest(tr.policy)
    with pytest.raises(CheckpointError, match="not on the shipped cards: a policy plays only the cards it was trained on"):
        load_policy(tmp_path / "run" / "policy.pt")
    from tcg_env.bots import make_bot
    with pytest.raises(CheckpointError, match="not on the shipped cards"):
        make_bot(f"checkpoint:{tmp_path / 'run' / 'policy.pt'}")
    # a shipped-card checkpoint carries nothing extra, as before
    tr2, _ = run_updates(TrainConfig.from_dict({**TINY, "out": str(tmp_path / "s" / "run")}), 1)
    assert "card_files" not in load_checkpoint(tmp_path / "s" / "run" / "policy.pt")
    with pytest.raises(CheckpointError, match="this run plays 17 cards of their own"):
        Trainer(own(tmp_path / "i"), init_from=str(tmp_path / "s" / "run" / "policy.pt"), quiet=True)


def test_tcg_train_init_from_takes_a_policy_of_the_same_cards_and_refuses_others(tmp_path, capsys, monkeypatch):
    """``tcg train --init-from`` checks the policy against the run's cards before any folder is made."""
    from training.cli import main
    monkeypatch.chdir(tmp_path)
    run_updates(own(tmp_path / "own"), 1)
    run_updates(TrainConfig.from_dict({**TINY, "out": str(tmp_path / "shipped" / "run")}), 1)
    sets = ["--set", "n_heads=0"]   # as TrainConfig's default, which the tiny runs keep (the cpu config sets 2)
    for k, v in TINY.items():
        if k not in ("minutes", "total_steps"):
            sets += ["--set", f"{k}={v}"]
    files = ["--set", f"cards_file={CARDS}", "--set", f"decks_file={DECKS}"]
    common = ["--no-progress", "--final-eval-games", "2", "--total-steps", str(TINY["num_envs"] * TINY["rollout_steps"]),
              *sets]
    assert main(["train", "--init-from", str(tmp_path / "own" / "run" / "policy.pt"), "--out", str(tmp_path / "a"),
                 *common, *files]) == 0
    assert "card_files" in load_checkpoint(tmp_path / "a" / "policy.pt")
    capsys.readouterr()
    for start, extra, says in ((tmp_path / "shipped" / "run" / "policy.pt", files,
                                "and this run plays 17 cards of their own"),
                               (tmp_path / "own" / "run" / "policy.pt", [], "and this run plays the shipped cards")):
        assert main(["train", "--init-from", str(start), "--out", str(tmp_path / "b"), *common, *extra]) == 2
        assert says in capsys.readouterr().err
        assert not (tmp_path / "b").exists()


def test_a_run_on_its_own_cards_resumes_exactly(tmp_path):
    straight, _ = run_updates(own(tmp_path / "s", card_text=True), 4)
    cfg = own(tmp_path / "r", card_text=True)
    run_updates(cfg, 2)
    resumed, _ = run_updates(cfg, 2, resume=str(tmp_path / "r" / "run"))
    assert resumed.update == 4
    assert params_digest(straight.policy) == params_digest(resumed.policy)


def test_a_resume_refuses_files_that_changed_and_a_checkpoint_whose_cards_were_altered(tmp_path):
    cfg = own(tmp_path)
    run_updates(cfg, 1)
    run = tmp_path / "run"
    changed = tmp_path / "cards.toml"
    text = Path(CARDS).read_text()
    assert 'name = "Minnow"' in text
    changed.write_text(text.replace('name = "Minnow"', 'name = "Minnow"\nflavor = "x"', 1))
    # flavour text is not read by the games: the same cards
    Trainer(own(tmp_path, cards_file=str(changed)), resume=str(run), quiet=True).close()
    head, tail = text.split('name = "Minnow"', 1)
    changed.write_text(head + 'name = "Minnow"' + tail.replace("attack = ", "attack = 1", 1))
    with pytest.raises(CheckpointError, match=r"the card tables differ \(changed: Minnow\).*--set cards_file=PATH"):
        Trainer(own(tmp_path, cards_file=str(changed)), resume=str(run), quiet=True)
    with pytest.raises(CheckpointError, match="only in the checkpoint: Abyssal Eel"):
        Trainer(TrainConfig.from_dict({**TINY, "out": str(run)}), resume=str(run), quiet=True)
    # the text a checkpoint carries must compile to its digest
    ckpt = sorted((run / "checkpoints").glob("ckpt_*.pt"))[-1]
    data = torch.load(ckpt, weights_only=True)
    for bad, says in ((dict(card_files={"cards": changed.read_text(), "decks": Path(DECKS).read_text()}),
                       "was trained on a different card pool than the cards it carries"),
                      (dict(card_files={"cards": 3}), "'card_files' must map 'cards' and 'decks'"),
                      (dict(card_files={"cards": changed.read_text() + '# \udc80', "decks": Path(DECKS).read_text()}),
                       "its cards file's text is not UTF-8 text"),
                      (dict(card_files={"cards": "[[card]]\nname = 1", "decks": ""}), r"bad.pt: its cards file: card #1"),
                      (dict(card_files=None), "different card pool than the shipped cards")):
        atomic_save({**data, **bad}, tmp_path / "bad.pt")
        with pytest.raises(CheckpointError, match=says):
            load_checkpoint(tmp_path / "bad.pt")


def test_tcg_eval_plays_a_checkpoint_on_the_cards_it_carries(tmp_path, capsys, monkeypatch):
    from training.cli import main
    run_updates(own(tmp_path), 1)
    policy = tmp_path / "run" / "policy.pt"
    # from a folder without the files: the checkpoint alone is enough
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--checkpoint", str(policy), "--opponent", "heuristic", "--games", "8", "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["games"] == 8 and res["illegal_actions"] == 0
    assert set(res["by_own_deck"]) == set(res["by_opponent_deck"]) == {"Reefwall", "Riptide"}
    assert main(["eval", "--checkpoint", str(policy), "--opponent", f"checkpoint:{policy}", "--games", "4",
                 "--decks", "reef"]) == 0
    out = capsys.readouterr().out
    assert "Reefwall" in out and "Riptide" not in out
    assert main(["eval", "--checkpoint", str(policy), "--decks", "Emberfang", "--games", "4"]) == 2
    assert "unknown deck 'Emberfang'; decks: Reefwall, Riptide" in capsys.readouterr().err
    # a shipped-card opponent cannot sit at these cards' table
    run_updates(TrainConfig.from_dict({**TINY, "out": str(tmp_path / "s")}), 1)
    assert main(["eval", "--checkpoint", str(policy), "--opponent", f"checkpoint:{tmp_path / 's' / 'policy.pt'}",
                 "--games", "4"]) == 2
    assert "was trained on the shipped cards, not on 17 cards of their own" in capsys.readouterr().err


def test_run_cards_of_the_shipped_files_is_the_shipped_cards_and_a_decks_file_alone_uses_them(tmp_path):
    assert run_cards().shipped and run_cards().same_as(shipped_cards())
    # a decks file of the shipped cards, with one deck of the prebuilt ones
    text = (Path(__file__).resolve().parents[1] / "prefabs" / "data" / "decks.toml").read_text()
    one = "[[deck]]" + text.split("[[deck]]")[1]
    path = tmp_path / "decks.toml"
    path.write_text(one)
    cards = run_cards(decks_file=str(path))
    assert not cards.shipped and len(cards.decks) == 1 and cards.digest == shipped_cards().digest
    assert "the decks differ" in cards.difference(shipped_cards())
    assert isinstance(cards, CardSet) and np.array_equal(cards.pool.table, default_pool().table)


# ----------------------------------------------------------------------------- tcg play and tcg replay
def test_tcg_play_plays_your_own_cards_and_its_replay_carries_them(tmp_path, capsys, example):
    """``tcg play --cards --decks-file`` deals the files' decks against a bot; the replay holds
    the files' text and re-plays with no other file; a replay whose carried text was altered,
    or that names a deck its files lack, is refused by name."""
    import io

    from tcg_env.play import play_game
    from tcg_env.replay import ReplayError, load_replay, replay_states, run_replay
    from training.cli import main
    from test_play import Typist
    pool, decks = example
    out_file = tmp_path / "game.json"
    assert main(["play", "--cards", CARDS, "--decks-file", DECKS, "--list-decks"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("Decks (") and "Reefwall (control)" in listed and "Emberfang" not in listed
    assert main(["play", "--cards", CARDS, "--decks-file", DECKS, "--deck", "Emberfang"]) == 2
    assert "unknown deck 'Emberfang'; decks: Reefwall, Riptide" in capsys.readouterr().err
    assert main(["play", "--cards", CARDS]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"tcg play: --cards: {CARDS}: the prebuilt decks need cards it lacks"), err
    cards = load_card_set(CARDS, DECKS)
    out = io.StringIO()
    res = play_game(opponent="heuristic", seed=5, seat=1, deck="rip", opponent_deck="reef", cards=cards,
                    input=Typist(out, 5), output=out,
                    replay_out=out_file)
    assert res.state.done and res.state.pool.table.tobytes() == pool.table.tobytes()
    assert "you (P1, Riptide) against the heuristic bot (P0, Reefwall)" in out.getvalue()
    raw = json.loads(out_file.read_text())
    assert raw["decks"] == ["Reefwall", "Riptide"] and raw["card_files"] == cards.files()
    rep = load_replay(out_file)
    assert list(replay_states(rep))[-1].state == res.state
    view = io.StringIO()
    assert run_replay(out_file, show_all=True, output=view) == 0
    assert view.getvalue().rstrip().splitlines()[-1] == res.line
    for change, says in ((dict(decks=["Reefwall", "Emberfang Rush"]),
                          "unknown deck 'Emberfang Rush'; the decks of its card_files: Reefwall, Riptide"),
                         (dict(card_files={"cards": "[[card]]", "decks": ""}), "its cards file: "),
                         (dict(card_files=["x"]), "'card_files' must map 'cards' and 'decks'")):
        (tmp_path / "bad.json").write_text(json.dumps({**raw, **change}))
        with pytest.raises(ReplayError, match=says):
            load_replay(tmp_path / "bad.json")


def test_tcg_play_against_a_checkpoint_deals_the_cards_it_was_trained_on(tmp_path, capsys):
    from training.cli import main
    run_updates(own(tmp_path), 1)
    policy = tmp_path / "run" / "policy.pt"
    assert main(["play", "--opponent", f"checkpoint:{policy}", "--list-decks"]) == 0
    assert "Riptide (aggro)" in capsys.readouterr().out
    replay = tmp_path / "g.json"
    import sys
    from io import StringIO
    sys_stdin = sys.stdin
    try:
        sys.stdin = StringIO("1\n" * 400)
        assert main(["play", "--opponent", f"checkpoint:{policy}", "--seed", "2", "--plain",
                     "--replay-out", str(replay)]) == 0
    finally:
        sys.stdin = sys_stdin
    assert json.loads(replay.read_text())["card_files"] == {"cards": Path(CARDS).read_text(),
                                                            "decks": Path(DECKS).read_text()}
    capsys.readouterr()
    # the shipped cards beside it: refused, naming both
    assert main(["play", "--opponent", f"checkpoint:{policy}", "--cards", str(EXAMPLES.parent.parent / "prefabs" /
                                                                              "data" / "cards.toml")]) == 2
    assert "not on the shipped cards with 4 deck(s) (Emberfang Rush" in capsys.readouterr().err


# ----------------------------------------------------------------------------- tcg demos and tcg bc
def test_demonstrations_of_your_own_cards_carry_them_into_behaviour_cloning(tmp_path, capsys, example):
    """``tcg demos --cards --decks-file`` records games of the files' decks and their text in the
    header; ``--append`` keeps to the file's own cards and refuses others; ``tcg bc`` trains a
    policy of those cards, saved with them."""
    from training.cli import main
    from training.demos import DemoFormatError, DemoReader, check_header, load_demos, write_demos
    pool, decks = example
    demos = tmp_path / "d.bin"
    assert main(["demos", "--bot", "heuristic", "--games", "6", "--parallel", "6", "--cards", CARDS,
                 "--decks-file", DECKS, "--out", str(demos), "--json"]) == 0
    cards = load_card_set(CARDS, DECKS)
    rd = DemoReader(demos)
    assert rd.header["card_files"] == cards.files() and rd.cards.same_as(cards)
    data = load_demos(demos)
    assert data.cards.same_as(cards) and set(data.game.tolist()) == set(range(6))
    from tcg_env.state import state_rows_problem
    assert state_rows_problem(data.game_start_state, pool) is None   # start states of these cards' games
    assert state_rows_problem(data.game_start_state, default_pool()) is not None
    # appending without flags keeps the file's cards; the shipped cards are refused by name
    capsys.readouterr()
    assert main(["demos", "--bot", "heuristic", "--games", "2", "--out", str(demos), "--append", "--json"]) == 0
    assert load_demos(demos).game_id.tolist() == list(range(8))
    with pytest.raises(DemoFormatError, match="holds games on 17 cards of their own .* the shipped cards"):
        write_demos(demos, games=2, append=True, cards=shipped_cards())
    # the header's carried text must compile to its digest, and be well formed
    for bad, says in ((dict(card_table_digest="00" * 16), "card table digest"),
                      (dict(card_files={"cards": 1}), "'card_files' must map")):
        with pytest.raises(DemoFormatError, match=says):
            check_header({**rd.header, **bad}, demos)
    # behaviour cloning reads the cards from the file and saves the policy with them
    assert main(["bc", "--demos", str(demos), "--out", str(tmp_path / "bc"), "--epochs", "1", "--policy", "small",
                 "--json"]) == 0
    policy = tmp_path / "bc" / "policy.pt"
    assert policy_cards(policy).same_as(cards)
    load_policy(policy, cards=cards)
    with pytest.raises(CheckpointError, match="not on the shipped cards"):
        load_policy(policy)


def test_tcg_cards_checks_the_files_and_plays_the_decks(capsys):
    from training.cli import main
    assert main(["cards", "--cards", CARDS, "--decks-file", DECKS, "--games", "8"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("17 cards (2 IKZ, 2 LEADER, 3 SPELL, 8 UNIT, 2 WEAPON); card table digest "
                          + load_card_set(CARDS, DECKS).digest)
    assert "deck Reefwall (control): leader Nereth, Tide Warden, 30 main cards" in out
    assert "heuristic against itself, 8 games" in out and "Win rate by pairing" in out and "(2)" in out
    assert "Cards by what starting with them is worth" in out and "Reefwall 3" in out
    assert main(["cards", "--cards", CARDS]) == 2
    assert "tcg cards: --cards: " in capsys.readouterr().err
    assert main(["cards", "--decks-file", CARDS]) == 2
    assert "tcg cards: --decks-file: " in capsys.readouterr().err
    assert main(["cards", "--games", "1"]) == 2
