"""Configuration: user file, project file and environment merged, validated, errors naming file and key."""
from __future__ import annotations

from pathlib import Path

import pytest

from local_models.config import (
    Config,
    find_project_root,
    load_config,
    models_dir,
    origin_of,
    read_env,
    user_config_path,
)
from local_models.errors import ConfigError


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A user config file location (via LEAN_COMPANION_CONFIG_FILE) and a project folder."""
    user = tmp_path / "user" / "config.toml"
    user.parent.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    monkeypatch.setenv("LEAN_COMPANION_CONFIG_FILE", str(user))
    return user, project


def test_defaults_without_any_file(dirs) -> None:
    """With no file and no variable every section has its documented default."""
    config = load_config(dirs[1], environ={})
    assert config.models.tactic == [] and config.models.embedding is None
    assert config.suggest.max_candidates == 8 and config.suggest.enabled
    assert config.search.feedback_rounds == 1 and not config.safety.allow_native_decide
    assert config.index.include_dependencies and config.log.level == "INFO"
    assert origin_of(config, "suggest.max_candidates") == "defaults"


def test_user_then_project_then_environment(dirs) -> None:
    """Later sources win key by key; untouched keys keep earlier values; origins are recorded."""
    user, project = dirs
    user.write_text('[suggest]\nmax_candidates = 4\ntimeout_seconds = 5.0\n[models]\ntactic = ["a"]\n')
    (project / ".lean-companion.toml").write_text("[suggest]\nmax_candidates = 6\n[index]\ndense = false\n")
    env = {"LEAN_COMPANION_SUGGEST__MAX_CANDIDATES": "12", "LEAN_COMPANION_MODELS__WHOLE_PROOF": "x, y",
           "LEAN_COMPANION_SAFETY__ALLOWED_SET_OPTIONS": '["maxRecDepth"]', "LEAN_COMPANION_DEBUG": "1"}
    config = load_config(project, environ=env)
    assert config.suggest.max_candidates == 12
    assert config.suggest.timeout_seconds == 5.0
    assert config.models.tactic == ["a"] and config.models.whole_proof == ["x", "y"]
    assert config.safety.allowed_set_options == ["maxRecDepth"]
    assert config.index.dense is False
    assert origin_of(config, "suggest.max_candidates") == "environment LEAN_COMPANION_SUGGEST__MAX_CANDIDATES"
    assert origin_of(config, "index.dense").endswith("proj/.lean-companion.toml")
    assert origin_of(config, "suggest.timeout_seconds").endswith("user/config.toml")


def test_type_error_names_file_key_and_value(dirs) -> None:
    """A wrongly typed value reports '<file>: section.key: expected T, got V'."""
    user, project = dirs
    user.write_text('[suggest]\nmax_candidates = "x"\n')
    with pytest.raises(ConfigError) as err:
        load_config(project, environ={})
    assert str(err.value).endswith('user/config.toml: suggest.max_candidates: expected int, got "x"')


def test_unknown_keys_and_sections_are_named(dirs) -> None:
    """A misspelt key lists the known ones; an unknown section lists the sections."""
    _, project = dirs
    (project / ".lean-companion.toml").write_text("[suggest]\nmax_candidate = 3\n")
    with pytest.raises(ConfigError, match=r"\.lean-companion\.toml: suggest\.max_candidate: unknown key "
                                          r"\(known keys: enabled, completions, .*max_candidates"):
        load_config(project, environ={})
    (project / ".lean-companion.toml").write_text("[sugest]\n")
    with pytest.raises(ConfigError, match=r"sugest: unknown key \(sections: models, suggest"):
        load_config(project, environ={})


def test_bad_toml_and_bad_environment_values(dirs) -> None:
    """Invalid TOML names the file; a bad variable names the variable and key."""
    user, project = dirs
    user.write_text("[suggest\n")
    with pytest.raises(ConfigError, match=r"user/config.toml: invalid TOML"):
        load_config(project, environ={})
    user.write_text("")
    with pytest.raises(ConfigError) as err:
        load_config(project, environ={"LEAN_COMPANION_SEARCH__MAX_DEPTH": "deep"})
    assert str(err.value) == 'environment LEAN_COMPANION_SEARCH__MAX_DEPTH: search.max_depth: expected int, got "deep"'
    with pytest.raises(ConfigError, match=r"LEAN_COMPANION_LOG__LEVEL: log.level: invalid enum value 'LOUD'"):
        load_config(project, environ={"LEAN_COMPANION_LOG__LEVEL": "LOUD"})


def test_custom_models_and_relative_paths(dirs) -> None:
    """User models are validated per key, and relative paths resolve against the file that sets them."""
    _, project = dirs
    (project / ".lean-companion.toml").write_text(
        '[models]\nmodels_dir = "store"\n[models.custom.mine]\npath = "m/x.gguf"\nrole = "tactic"\n'
        'format = "gguf"\nprompt = "{goal}"\n[log]\nfile = "logs/lc.log"\n'
    )
    config = load_config(project, environ={})
    assert models_dir(config) == project / "store"
    assert config.models.custom["mine"].path == str(project / "m" / "x.gguf")
    assert config.log.file == str(project / "logs" / "lc.log")
    (project / ".lean-companion.toml").write_text('[models.custom.mine]\nrole = "tactics"\n')
    with pytest.raises(ConfigError, match=r"models.custom.mine.role: invalid enum value 'tactics'"):
        load_config(project, environ={})


def test_project_root_is_found_from_a_subfolder(tmp_path: Path) -> None:
    """The project root is the nearest folder with lean-toolchain, a lakefile or our file."""
    (tmp_path / "lean-toolchain").write_text("leanprover/lean4:v4.20.0\n")
    deep = tmp_path / "A" / "B"
    deep.mkdir(parents=True)
    assert find_project_root(deep) == tmp_path.resolve()


def test_user_config_path_uses_platformdirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without the override variable the user file is <config dir>/lean-companion/config.toml."""
    monkeypatch.delenv("LEAN_COMPANION_CONFIG_FILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert user_config_path() == tmp_path / "lean-companion" / "config.toml"
    assert isinstance(Config(), Config)


def test_env_parsing_of_lists_and_nested_keys() -> None:
    """Environment values are TOML literals; list keys also take comma lists; '__' nests."""
    data, origins = read_env({"LEAN_COMPANION_MODELS__TACTIC": "a,b", "LEAN_COMPANION_INDEX__DENSE": "false",
                              "LEAN_COMPANION_MODELS__CUSTOM__M__PATH": "/x.gguf", "OTHER": "1"})
    assert data == {"models": {"tactic": ["a", "b"], "custom": {"m": {"path": "/x.gguf"}}}, "index": {"dense": False}}
    assert origins["index.dense"] == "environment LEAN_COMPANION_INDEX__DENSE"


def test_error_for_the_default_user_file_reads_as_in_the_docs(tmp_path: Path, monkeypatch) -> None:
    """The default user file's errors start with ~/.config/lean-companion/config.toml (home shortened)."""
    monkeypatch.delenv("LEAN_COMPANION_CONFIG_FILE", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path))
    user = tmp_path / ".config" / "lean-companion" / "config.toml"
    if user_config_path() != user:
        pytest.skip(f"platformdirs puts the user config elsewhere here: {user_config_path()}")
    user.parent.mkdir(parents=True)
    user.write_text('[suggest]\nmax_candidates = "x"\n')
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, environ={})
    assert str(err.value) == '~/.config/lean-companion/config.toml: suggest.max_candidates: expected int, got "x"'
