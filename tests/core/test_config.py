import pytest
import yaml

from lsf.core.config import PipelineConfig, config_from_mapping, load_config, with_overrides
from lsf.core.errors import LsfError


def test_no_file_gives_defaults():
    assert load_config(None) == PipelineConfig()


def test_yaml_values_are_typed_and_validated(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 3, "lr": 1}, "model": {"widths": [8, 16]}}))
    config = load_config(path)
    assert (
        config.train.epochs == 3 and config.train.lr == 1.0 and isinstance(config.train.lr, float)
    )
    assert config.model.widths == [8, 16]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"train": {"epoch": 1}}, "unknown key train.epoch"),
        ({"trian": {}}, "unknown section 'trian'"),
        ({"train": {"epochs": 0}}, "train.epochs must be >= 1"),
        ({"train": {"epochs": "3"}}, "train.epochs must be an integer"),
        ({"train": {"epochs": True}}, "train.epochs must be an integer"),
        ({"train": {"loss": "l1"}}, "train.loss must be one of mse, bce"),
        ({"model": {"widths": []}}, "model.widths must be a non-empty list"),
        ({"prepare": {"source": "imagenet"}}, "prepare.source must be one of"),
        ({"prepare": "x"}, "section 'prepare' must be a mapping"),
        ([1, 2], "top level must be a mapping"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(data, message):
    with pytest.raises(LsfError, match=message):
        config_from_mapping(data)


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  epochs: [1\n")
    with pytest.raises(LsfError, match="not valid YAML at line"):
        load_config(path)


def test_missing_config_file_is_refused(tmp_path):
    with pytest.raises(LsfError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_flags_override_config_values_and_are_validated():
    config = config_from_mapping({"train": {"epochs": 5, "lr": 0.01}})
    train = with_overrides(config.train, "train", epochs=2, lr=None)
    assert train.epochs == 2 and train.lr == 0.01
    with pytest.raises(LsfError, match="train.batch_size must be >= 1"):
        with_overrides(config.train, "train", batch_size=0)


def test_the_study_preset_fills_sections_under_the_files_own_values():
    from lsf.core.presets import STUDY

    config = config_from_mapping({"preset": "study", "analyze": {"trim_fact": 1.55}})
    assert config.analyze.trim_fact == 1.55  # the file wins
    for key, value in STUDY["analyze"].items():
        if key != "trim_fact":
            assert getattr(config.analyze, key) == value
    assert config.prepare == PipelineConfig().prepare  # sections the preset leaves alone


def test_builtin_study_and_celeba_configs_use_the_study_preset():
    for name in ("study", "celeba"):
        analyze = load_config(name).analyze
        assert (analyze.split, analyze.trim_fact, analyze.pca_sample) == ("train", 1.7, 80000)
        assert (analyze.bin_width, analyze.pca_bin_width) == (0.25, 0.5)


@pytest.mark.parametrize("preset", ["nope", 3, None])
def test_an_unknown_preset_is_refused_in_one_line(preset):
    with pytest.raises(LsfError, match="unknown preset") as error:
        config_from_mapping({"preset": preset})
    assert "\n" not in str(error.value)
