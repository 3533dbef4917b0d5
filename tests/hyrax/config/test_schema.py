import tomlkit

from hyrax.config import DEFAULT_CONFIG_PATH, read_toml
from hyrax.config.schema import key_spec, parse_tag, spec_from_document


def _walk(spec, prefix=""):
    for name, key in spec.keys.items():
        yield f"{prefix}{name}", key
    for name, table in spec.tables.items():
        yield from _walk(table, f"{prefix}{name}.")


def test_every_default_key_has_a_description():
    spec = spec_from_document(read_toml(DEFAULT_CONFIG_PATH))
    undocumented = [name for name, key in _walk(spec) if not key.description]
    assert undocumented == []
    assert len(list(_walk(spec))) > 40


def test_default_tables_include_the_documented_ones():
    spec = spec_from_document(read_toml(DEFAULT_CONFIG_PATH))
    for table in (
        "general",
        "download",
        "model",
        "criterion",
        "optimizer",
        "scheduler",
        "train",
        "data_set",
        "data_loader",
        "infer",
        "umap",
        "visualize",
        "vector_db",
        "results",
    ):
        assert table in spec.tables
    assert {"data_dir", "results_dir", "log_level", "log_destination", "dev_mode", "device"} <= set(
        spec.tables["general"].keys
    )


def test_tag_declares_types_and_flags():
    assert parse_tag("# [path|false] Weights to load") == ({"path", "false"}, "Weights to load")
    assert parse_tag("# [open] kwargs") == ({"open"}, "kwargs")
    assert parse_tag("# [see below] not a tag") == (set(), "[see below] not a tag")


def test_types_follow_the_default_without_a_tag():
    assert key_spec("epochs", 10, "# passes").accepts(3)
    assert not key_spec("epochs", 10, "# passes").accepts(3.5)
    assert not key_spec("epochs", 10, "# passes").accepts(True)
    assert key_spec("lr", 0.1, "# rate").accepts(1)
    assert not key_spec("flag", False, "# a flag").accepts("yes")


def test_optional_path_accepts_path_or_false_only():
    spec = key_spec("weights", False, "# [path|false] weights")
    assert spec.accepts(False) and spec.accepts("a/b.pth")
    assert not spec.accepts(True) and not spec.accepts(3)
    assert spec.is_path
    assert spec.describe_types() == "a path or false"


def test_secret_keys_are_recognised_by_tag_or_name():
    assert key_spec("password", "", "# pw").secret
    assert key_spec("api_token", "", "# t").secret
    assert key_spec("thing", "", "# [str|secret] hidden").secret
    assert not key_spec("username", "", "# user").secret


def test_open_table_from_header_comment():
    document = tomlkit.parse("[a]\nx = 1  # an x\n\n[a.kw]  # [open] anything\ny = 2  # a y\n")
    spec = spec_from_document(document)
    assert spec.tables["a"].tables["kw"].open
    assert not spec.tables["a"].open
    assert spec.tables["a"].keys["x"].description == "an x"


def test_comments_a_blank_line_above_the_first_key_extend_the_header_description():
    text = "[kw]  # [open] Options.\n# Seed them for repeatable runs.\n\n# [>= 1] a count\nn = 2\n"
    spec = spec_from_document(tomlkit.parse(text)).tables["kw"]
    assert spec.open and spec.description == "Options. Seed them for repeatable runs."
    assert spec.keys["n"].description == "a count"
