"""`algorithms.cli.flags`: the command line generated from the config dataclasses. Every field has a
flag, a flag not given leaves the dataclass default, each annotation parses to its type, the help
text is the field's comment and the aliases reach their fields."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from algorithms.cli import build_parser, flags
from algorithms.cli.prefgame import PrefgameOptions
from algorithms.marl.config import TrainConfig, check
from algorithms.marl.runner import RunOptions
from algorithms.preference.learners import LearnerConfig
from algorithms.preference.lm import LMConfig

COMMANDS = {"train": (TrainConfig, RunOptions), "prefgame": (PrefgameOptions, LearnerConfig, LMConfig)}
CASES = [(command, cls) for command, classes in COMMANDS.items() for cls in classes]


@pytest.fixture(scope="module")
def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action.choices


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def default(field: dataclasses.Field):
    return field.default if field.default is not dataclasses.MISSING else field.default_factory()


@pytest.mark.parametrize("command, cls", CASES, ids=lambda x: getattr(x, "__name__", x))
def test_every_field_has_a_flag(subparsers, command, cls):
    options = subparsers[command]._option_string_actions
    for field in dataclasses.fields(cls):
        assert flag(field.name) in options, (cls.__name__, field.name)
        assert options[flag(field.name)].dest == field.name


@pytest.mark.parametrize("command, cls", CASES, ids=lambda x: getattr(x, "__name__", x))
def test_flags_not_given_leave_the_dataclass_defaults(command, cls):
    args = parse(command)
    assert flags.given(args, cls) == {}
    built = flags.build(args, cls)
    assert built == cls()
    for field in dataclasses.fields(cls):
        assert getattr(built, field.name) == default(field), field.name


RENAMED = {("prefgame", "prompts"): "--batch-prompts"}  # LearnerConfig.prompts: --prompts is the prompts file there


@pytest.mark.parametrize("command, cls", CASES, ids=lambda x: getattr(x, "__name__", x))
def test_help_text_is_the_fields_comment(subparsers, command, cls):
    options = subparsers[command]._option_string_actions
    docs = flags.field_docs(cls)
    for field in dataclasses.fields(cls):
        value = default(field)
        shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
        expected = f"{docs.get(field.name, '')} (default: {shown})".strip().replace("%", "%%")
        name = flag(field.name) if cls is not LearnerConfig else RENAMED.get((command, field.name), flag(field.name))
        assert options[name].help == expected, field.name
        if field.name in docs:
            assert docs[field.name] and not docs[field.name].startswith("#")


def test_field_docs_reads_the_comment_after_each_field():
    docs = flags.field_docs(TrainConfig)
    assert set(docs) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert docs["anneal_lr"] and docs["scripted_opponents"]
    assert flags.field_docs(PrefgameOptions)["iterations"] == "self-play iterations"


def test_booleans_have_no_forms():
    assert TrainConfig().anneal_lr is True and TrainConfig().recurrent is False
    cfg = flags.build(parse("train", "--no-anneal-lr", "--recurrent"), TrainConfig)
    assert cfg.anneal_lr is False and cfg.recurrent is True
    cfg = flags.build(parse("train", "--anneal-lr", "--no-recurrent", "--no-ego-frame"), TrainConfig)
    assert cfg.anneal_lr is True and cfg.recurrent is False and cfg.ego_frame is False
    # an optional boolean (None: the algorithm decides) takes a value
    assert flags.build(parse("prefgame", "--best-worst", "true"), LearnerConfig).best_worst is True
    assert flags.build(parse("prefgame", "--best-worst", "no"), LearnerConfig).best_worst is False
    assert flags.build(parse("prefgame", "--best-worst", "none"), LearnerConfig).best_worst is None


def test_a_renamed_flag_fills_its_field():
    args = parse("prefgame", "--batch-prompts", "6", "--prompts", "p.jsonl", "--model", "m")
    assert flags.build(args, LearnerConfig, minibatches=2).prompts == 6
    assert flags.given(args, PrefgameOptions)["prompts"] == "p.jsonl"


def test_optional_numbers_take_none():
    args = parse("train", "--value-clip-eps", "none")
    assert flags.given(args, TrainConfig) == {"value_clip_eps": None}
    assert flags.build(args, TrainConfig).value_clip_eps is None
    assert flags.build(parse("train", "--value-clip-eps", "0.1"), TrainConfig).value_clip_eps == 0.1
    assert flags.build(parse("prefgame", "--pairs-from", "None"), LearnerConfig).pairs_from is None


def test_name_lists_are_tuples():
    cfg = flags.build(parse("train", "--scripted-opponents", "chaser,random"), TrainConfig)
    assert cfg.scripted_opponents == ("chaser", "random")
    cfg = flags.build(parse("train", "--scripted-opponents", " chaser , ", "--scripted-fraction", "0.5"),
                      TrainConfig)
    assert cfg.scripted_opponents == ("chaser",)
    assert flags.given(parse("train", "--scripted-opponents", ""), TrainConfig) == {"scripted_opponents": ()}


def test_overrides_are_name_value_pairs():
    cfg = flags.build(parse("train", "--overrides", "max_steps=200"), TrainConfig)
    assert cfg.overrides == (("max_steps", 200),)
    assert type(cfg.overrides[0][1]) is int
    args = parse("train", "--overrides", "max_steps=200,damage_per_second=2.5,cone_depth=2.0")
    assert flags.given(args, TrainConfig)["overrides"] == (("max_steps", 200), ("damage_per_second", 2.5),
                                                            ("cone_depth", 2.0))
    assert type(flags.given(args, TrainConfig)["overrides"][2][1]) is float  # "2.0" stays a float


def test_a_malformed_value_is_an_argparse_error(capsys):
    for argv in (["train", "--overrides", "max_steps"], ["train", "--num-envs", "many"],
                 ["train", "--value-clip-eps", "big"]):
        with pytest.raises(SystemExit) as error:
            parse(*argv)
        assert error.value.code == 2, argv
    assert "expected NAME=VALUE, got 'max_steps'" in capsys.readouterr().err


@pytest.mark.parametrize("argv, cls, field, value", [
    (["train", "--steps", "1024"], TrainConfig, "total_steps", 1024),
    (["train", "--total-steps", "1024"], TrainConfig, "total_steps", 1024),
    (["train", "--lr", "0.01"], TrainConfig, "learning_rate", 0.01),
    (["prefgame", "--lr", "0.01"], LearnerConfig, "learning_rate", 0.01),
    (["prefgame", "--algo", "dpo"], LearnerConfig, "algorithm", "dpo"),
    (["prefgame", "--k", "4"], LearnerConfig, "k_samples", 4),
    (["prefgame", "--k-samples", "4"], LearnerConfig, "k_samples", 4),
    (["prefgame", "--layers", "3"], LMConfig, "n_layers", 3),
])
def test_aliases_reach_their_fields(argv, cls, field, value):
    args = parse(*argv)
    assert flags.given(args, cls) == {field: value}
    assert getattr(flags.build(args, cls), field) == value


def test_given_values_reach_the_dataclass_with_their_types():
    args = parse("train", "--num-envs", "32", "--gamma", "0.9", "--critic", "ippo", "--eval-games", "0")
    cfg, options = flags.build(args, TrainConfig), flags.build(args, RunOptions)
    assert (cfg.num_envs, cfg.gamma, cfg.critic) == (32, 0.9, "ippo")
    assert type(cfg.num_envs) is int and type(cfg.gamma) is float
    assert options == RunOptions(eval_games=0)
    args = parse("prefgame", "--judge", "bt", "--noise", "0.2", "--d-model", "32")
    assert flags.build(args, PrefgameOptions) == PrefgameOptions(judge="bt", noise=0.2)
    assert flags.given(args, LMConfig) == {"d_model": 32}


def test_extra_fills_only_fields_not_given():
    args = parse("train", "--hidden", "16")
    cfg = flags.build(args, TrainConfig, hidden=32, num_envs=64)
    assert cfg.hidden == 16 and cfg.num_envs == 64


def test_the_values_are_checked_by_the_configs_own_checks():
    with pytest.raises(ValueError, match="num_envs must be an int >= 1, got 0"):
        check(flags.build(parse("train", "--num-envs", "0"), TrainConfig))
    with pytest.raises(ValueError, match="iterations must be an int >= 1"):
        flags.build(parse("prefgame", "--iterations", "0"), PrefgameOptions)


def test_an_unsupported_annotation_is_a_type_error():
    @dataclasses.dataclass(frozen=True)
    class Odd:
        weights: dict = dataclasses.field(default_factory=dict)  # a mapping

    with pytest.raises(TypeError, match="no command-line type for a field annotated 'dict'"):
        flags.add_flags(argparse.ArgumentParser(), Odd)
