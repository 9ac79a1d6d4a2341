"""Settings load once from TOML with environment overrides; bad values fail naming the key."""

from pathlib import Path

import pytest

from dropout.contract.settings import load_settings, pseudonym_key

REPO = Path(__file__).resolve().parents[1]


def test_default_config_anchors_paths_at_repo_root():
    settings = load_settings(REPO / "config" / "default.toml", env={})
    assert settings.pipeline.root == str(REPO / "work" / "pipeline")
    assert settings.data.window_days == 10
    assert settings.evaluation.threshold == 0.8


def test_environment_overrides_typed_values():
    env = {
        "DROPOUT__MODEL__EPOCHS": "3",
        "DROPOUT__DATA__WINDOW_DAYS": "7",
        "DROPOUT__PIPELINE__ROOT": "/srv/x",
    }
    settings = load_settings(REPO / "config" / "default.toml", env=env)
    assert settings.model.epochs == 3
    assert settings.data.window_days == 7
    assert settings.pipeline.root == "/srv/x"


def test_bad_override_names_the_variable():
    with pytest.raises(ValueError, match="DROPOUT__MODEL__EPOCHS"):
        load_settings(REPO / "config" / "default.toml", env={"DROPOUT__MODEL__EPOCHS": "many"})


def test_unknown_key_is_an_error(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[model]\nepoch = 3\n")
    with pytest.raises(ValueError, match="unknown keys \\['epoch'\\]"):
        load_settings(path, env={})


def test_key_from_environment_then_file(tmp_path):
    settings = load_settings(None, env={}).ingestion
    key_file = tmp_path / "k"
    key_file.write_text("from-file\n")
    import dataclasses

    settings = dataclasses.replace(settings, key_file=str(key_file))
    assert pseudonym_key(settings, env={settings.key_env: "from-env"}) == b"from-env"
    assert pseudonym_key(settings, env={}) == b"from-file"
    key_file.unlink()
    with pytest.raises(RuntimeError, match="no pseudonymisation key"):
        pseudonym_key(settings, env={})
