"""Configuration: TOML plus HUB_ environment, secrets by reference, clear errors."""

import pytest

import hub._config as config
from hub._config import SourceSettings, load_settings
from hub.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_and_environment_merge_with_the_environment_winning(tmp_path, monkeypatch):
    """HUB_AUDIT__NODE overrides the file; the file's other values stay."""
    path = write(tmp_path, '[audit]\nnode = "from-file"\ncheckpoint_every = 7\n')
    monkeypatch.setenv("HUB_AUDIT__NODE", "from-env")
    settings = load_settings(path)
    assert settings.audit.node == "from-env"
    assert settings.audit.checkpoint_every == 7


def test_nested_source_tables_come_from_the_environment_too(tmp_path, monkeypatch):
    """HUB_SOURCES__POPULATION__URL adds to the [sources.population] table."""
    path = write(tmp_path, '[sources.population]\nagency_code = "X"\n')
    monkeypatch.setenv("HUB_SOURCES__POPULATION__URL", "http://127.0.0.1:9/dancu")
    settings = load_settings(path)
    assert settings.sources["population"] == {"agency_code": "X", "url": "http://127.0.0.1:9/dancu"}


def test_secrets_resolve_from_env_and_file_and_never_show(tmp_path, monkeypatch):
    """env: and file: references become SecretStr values hidden from repr."""
    (tmp_path / "key").write_text("file-secret-value\n")
    monkeypatch.setenv("PSEUDO_KEY", "env-secret-value")
    path = write(
        tmp_path,
        f'[audit]\npseudonym_key = "env:PSEUDO_KEY"\nsigning_key = "file:{tmp_path / "key"}"\n',
    )
    settings = load_settings(path)
    assert settings.audit.pseudonym_key.get_secret_value() == "env-secret-value"
    assert settings.audit.signing_key.get_secret_value() == "file-secret-value"
    assert "secret-value" not in repr(settings) + str(settings)


def test_a_missing_secret_is_a_config_error_naming_the_setting(tmp_path, monkeypatch):
    """An unset variable names the setting and the variable, not a value."""
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    path = write(tmp_path, '[audit]\npseudonym_key = "env:NOPE_NOT_SET"\n')
    with pytest.raises(ConfigError, match=r"audit\.pseudonym_key.*NOPE_NOT_SET"):
        load_settings(path)


def test_unknown_keys_and_bad_toml_are_errors(tmp_path):
    """A typo in a key is refused, and so is a file that is not TOML."""
    with pytest.raises(ConfigError, match="audti"):
        load_settings(write(tmp_path, "[audti]\nnode = 'x'\n"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[audit\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_source_settings_validate_their_values():
    """A relative URL or a zero deadline is refused."""
    with pytest.raises(ValueError, match="absolute"):
        SourceSettings(url="/dancu")
    with pytest.raises(ValueError):
        SourceSettings(url="http://x", deadline=0)


def test_the_old_path_of_config_error_warns_and_is_the_same_class():
    """`hub._config.ConfigError` still imports for one release, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match=r"import ConfigError from hub\.errors"):
        from hub._config import ConfigError as old
    assert old is ConfigError


def test_an_unknown_name_of_the_config_module_is_still_an_attribute_error():
    """The deprecation hook answers for ConfigError only."""
    with pytest.raises(AttributeError, match="NoSuchSetting"):
        _ = config.NoSuchSetting
