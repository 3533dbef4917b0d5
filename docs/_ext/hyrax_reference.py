"""Sphinx extension: the configuration reference and one page per verb, generated at build time.

On ``builder-inited`` it writes MyST markdown into ``docs/reference/`` (ignored by git):

``configuration.md``
    Every table and key of ``hyrax_default_config.toml``, read through
    :func:`hyrax.config.schema.spec_from_document` exactly as :class:`hyrax.config.manager.ConfigManager`
    reads it, so the types, ranges, choices and descriptions shown are the ones the configuration
    checks use.
``verbs/index.md`` and ``verbs/<verb>.md``
    One page per verb of :data:`hyrax.registry.VERB_REGISTRY`, from the verb's own metadata: its
    description, the ``argparse`` sub-parser the ``hyrax`` command builds for it, the signature and
    numpydoc docstring of its ``run`` method, ``next_step`` and the parser's epilog, plus a worked
    example (``EXAMPLES``) and links to the hand-written guides (``GUIDES``).

Only files whose text changed are rewritten, and generated pages of verbs that no longer exist are
removed. The generator functions take an output folder and need no Sphinx, so tests can call them.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GENERATED_DIR = "reference"
"""Folder, relative to the documentation source folder, the pages are generated into."""

# ---------------------------------------------------------------------------------------------------
# Hand-written parts of the verb pages.

GUIDES: dict[str, list[tuple[str, str]]] = {
    "train": [
        ("data.md", "Your data: FITS cutouts, scaling and transforms"),
        ("tracking.md", "Tracking training runs (MLflow, TensorBoard, the loss curve)"),
        ("distributed.md#training-on-one-node", "Training on several processes, nodes and GPUs"),
    ],
    "infer": [("distributed.md#distributed-inference", "Distributed inference")],
    "export": [("distributed.md#onnx-export", "ONNX export")],
    "download": [("download.md", "Downloading cutouts")],
    "prepare": [("download.md#prepare", "`prepare`, in Downloading cutouts")],
    "rebuild_manifest": [("download.md#the-folder-and-its-manifest", "The folder and its manifest")],
    "visualize": [("visualize.md", "Exploring a latent space")],
    "outliers": [("outliers.md", "Finding outliers")],
    "save_to_database": [("vector_db.md", "Vector databases")],
    "lookup": [("vector_db.md#the-verbs", "Vector databases: the verbs")],
    "database_connection": [("vector_db.md#the-verbs", "Vector databases: the verbs")],
}
"""Hand-written documentation pages (relative to ``docs/``) about each verb."""

EXAMPLES: dict[str, str] = {
    "train": """\
Train the default autoencoder on the built-in simulated galaxies, shorter than the default:

```shell
hyrax train --set train.epochs=3 --set data_loader.batch_size=64
```

The results directory holds `model_weights.pth` (`train.weights_filename`), `checkpoint_latest.pt`,
`checkpoint_best.pt`, `splits.npz` (the train, validate and test splits, which `infer` and `test`
reuse), `loss_curve.png`, `runtime_config.toml` and, with `train.tensorboard`, `tensorboard/`. An
interrupted run continues with `hyrax train --set train.resume=true`. In a notebook:

```python
from hyrax import Hyrax

h = Hyrax()  # or Hyrax("my_config.toml")
h.config["train"]["epochs"] = 3
model = h.train()
```
""",
    "infer": """\
After a `train` run, compute one latent vector per object with its weights:

```shell
hyrax infer                                # the whole dataset, weights of the newest train run
hyrax infer --set infer.split=test         # only the test split that train run saved
hyrax infer --set infer.model_weights_file=results/20250101-120000-train-1a2b3c
```

```python
latents = h.infer()
len(latents), latents.ids()[:3]   # an InferenceDataSet: one item per object
latents[0]["data"]                # the first object's vector
```
""",
    "test": """\
Evaluate a classifier: train `HyraxCNN` on the labelled simulated galaxies, then test it on the test
split that train run saved. The same configuration file serves both, so `test` rebuilds the same
model:

```toml
# classify.toml
[model]
name = "HyraxCNN"
```

```shell
hyrax train -c classify.toml
hyrax test -c classify.toml
```

The results directory holds `test_metrics.json` and, for a classifier, `confusion_matrix.png` and
`confusion_matrix.npy`. In Python, `h.test()` returns the metrics, e.g. `{"loss": 1.2, "accuracy": 0.6}`.
""",
    "umap": """\
Reduce the vectors of the newest `infer` run to three dimensions instead of two:

```shell
hyrax umap --set umap.parameters.n_components=3
```

```python
embedding = h.umap()
embedding.vectors(0, 5)   # the first five objects' coordinates
```
""",
    "list": """\
```shell
hyrax list
```

prints every registered verb, model, dataset, vector database, outlier method and download service
with one line of description. In Python, `h.list(quiet=True)["models"]` returns the models as
`{name: description}` without printing.
""",
    "prepare": (
        "Check a dataset before training on it:\n\n"
        "```shell\nhyrax prepare\n```\n\n"
        "```text\n"
        "SyntheticGalaxyDataSet: 2000 objects\n"
        "  each item: data of shape (3, 64, 64) (float32), with a label\n"
        "  splits: train 1200, validate 400, test 400 (data_set: train_size = 0.6, validate_size = 0.2, "
        "test_size = 0.2; seed 42)\n"
        "  metadata: class, label, magnitude, size, ellipticity, sersic_index, position_angle, redshift, "
        "color_gr, bulge_fraction, center_x, center_y, ...\n"
        "  left out: none (every object has all its files)\n"
        "```\n\n"
        "In Python, `dataset = h.prepare()` returns the dataset; `dataset[0]` is its first item.\n"
    ),
    "download": """\
Fetch g, r and z cutouts of a catalog's objects from the public Legacy Surveys service, then train on
them:

```toml
# download.toml
[download]
service = "legacy_survey"
source_catalog = "targets.parquet"   # columns object_id, ra, dec
```

```shell
hyrax download -c download.toml
hyrax train -c download.toml --set data_set.name=HSCDataSet
```

Run the download again to resume it: complete files are kept.
""",
    "visualize": """\
```shell
hyrax visualize                  # visualize.html and embedding.png of the newest umap run
hyrax visualize --serve          # the live app at http://127.0.0.1:5006/ (visualize.port)
hyrax visualize --set visualize.color_column=magnitude
```

```python
explorer = h.visualize(save=False)   # displays in Jupyter, writes nothing
explorer.selected_ids()              # the objects selected on the plot
```
""",
    "outliers": """\
```shell
hyrax outliers -n 10                                   # latent isolation (knn), top 10 printed
hyrax outliers --set outliers.method=reconstruction   # the autoencoder's error instead
```

```python
oddest = h.outliers(top=5)   # a pandas DataFrame, oddest first
oddest.head()
```
""",
    "rebuild_manifest": """\
Describe a folder of cutouts again after removing or adding files by hand:

```shell
hyrax rebuild_manifest --directory data/cutouts
```

```python
h.rebuild_manifest(directory="data/cutouts")   # returns the path of manifest.fits
```
""",
    "export": """\
```shell
hyrax export
hyrax infer --set infer.onnx_model=results/20250101-120000-export-1a2b3c
```

exports the model of the newest complete train run to `model.onnx`, checks it against PyTorch, and
then runs inference with onnxruntime. It needs the `onnx` extra: `pip install 'hyrax[onnx]'`.
""",
    "save_to_database": """\
Store the vectors of the newest `infer` run, with two metadata fields of the simulated galaxies:

```shell
hyrax save_to_database --set 'vector_db.metadata_fields=["class", "magnitude"]'
```

```python
db = h.save_to_database()
db.count()
```
""",
    "lookup": """\
```shell
hyrax lookup --id galaxy_000003 -k 3
```

```text
rank  object_id      distance    class       magnitude
----  -------------  ----------  ----------  ------------------
1     galaxy_000003  0           spiral      21.290621556684673
2     galaxy_000035  0.00140324  elliptical  21.157578262968965
3     galaxy_000012  0.00171483  spiral      21.151102910352748
```

(`class` and `magnitude` are there because `save_to_database` stored them.) In Python:

```python
neighbours = h.lookup(id="galaxy_000003", k=3)
neighbours["object_id"][1]   # the nearest other object
```
""",
    "database_connection": """\
```python
with h.database_connection() as db:
    print(db.count())
    result = db.search_by_id(["galaxy_000003"], 5)
    result.ids[0], result.distances[0]   # nearest first
```

On the command line the verb only opens and returns the database; use `hyrax lookup` there.
""",
}
"""A short worked example per verb, in MyST markdown. ``h`` is a ``Hyrax()`` object."""

EXTRA_TABLES: dict[str, list[str]] = {
    "train": ["model", "data_set", "data_loader", "criterion", "optimizer", "scheduler"],
    "infer": ["model", "data_set", "data_loader"],
    "test": ["model", "data_set", "data_loader", "train"],
    "export": ["model", "data_set", "data_loader"],
    "prepare": ["data_set", "data_loader"],
    "download": ["download.hsc_das", "download.legacy_survey"],
    "outliers": ["vector_db", "model", "data_loader"],
    "lookup": ["vector_db"],
    "database_connection": ["vector_db"],
}
"""Tables a verb reads through the code it calls, which its own module and docstrings do not name."""

ALWAYS_READ = ("general", "results")


# ---------------------------------------------------------------------------------------------------
# Markdown helpers.

_CODE_SPAN = re.compile(r"(?::(?P<role>[a-z]+(?::[a-z]+)?):)?(?P<ticks>`+)(?P<code>.+?)(?P=ticks)(?!`)", re.S)
_SPECIAL = re.compile(r"([\\*_\[\]<>|$~{}#])")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def md_text(text: str, in_table: bool = False) -> str:
    """``text`` (a TOML comment or a docstring) as MyST markdown that renders it literally.

    Code spans (single or double backticks) stay code; RST roles (``:class:`x```) become MyST roles;
    markdown syntax characters elsewhere are escaped. ``in_table`` also escapes ``|`` inside code and
    joins the lines, for a cell of a pipe table.
    """
    parts: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_SPECIAL.sub(r"\\\1", text[position : match.start()]))
        code = " ".join(match["code"].split()) if in_table else match["code"]
        if in_table:
            code = code.replace("|", "\\|")
        ticks = "``" if "`" in code else "`"
        parts.append(f"{{{match['role']}}}{ticks}{code}{ticks}" if match["role"] else f"{ticks}{code}{ticks}")
        position = match.end()
    parts.append(_SPECIAL.sub(r"\\\1", text[position:]))
    result = "".join(parts)
    return " ".join(result.split()) if in_table else result


def quoted_as_code(text: str) -> str:
    """Put each ``"quoted"`` value of ``text`` in a code span, so it is shown (and copied) as written."""
    pieces, position = [], 0
    for match in _CODE_SPAN.finditer(text):
        pieces += [_quote_spans(text[position : match.start()]), match.group(0)]
        position = match.end()
    return "".join([*pieces, _quote_spans(text[position:])])


def _quote_spans(text: str) -> str:
    if text.count('"') % 2:
        return text
    return re.sub(r'"[^"]*"', lambda match: f"`{match.group(0)}`", text)


def code(text: str, in_table: bool = False) -> str:
    """``text`` as one inline code span."""
    text = text.replace("|", "\\|") if in_table else text
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def toml_value(value: Any) -> str:
    """A default value written as TOML, e.g. ``false``, ``"./data"``, ``["g", "r"]``, ``2_000_000_000``."""
    import tomlkit

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:_}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return tomlkit.item(value).as_string()


def label(kind: str, name: str) -> str:
    """The cross-reference label of a configuration table or a verb, e.g. ``config-data_set.hscdataset``."""
    return f"{kind}-{name}".lower()


# ---------------------------------------------------------------------------------------------------
# The configuration reference.


def default_spec() -> Any:
    """The :class:`~hyrax.config.schema.TableSpec` of the default configuration.

    Read as :class:`hyrax.config.manager.ConfigManager` reads it, before any plug-in's defaults.
    """
    from hyrax.config.manager import DEFAULT_CONFIG_PATH, read_toml
    from hyrax.config.schema import spec_from_document

    return spec_from_document(read_toml(DEFAULT_CONFIG_PATH))


def iter_tables(spec: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted name, TableSpec)`` for every table, nested ones after their parent.

    A table's ``description`` is the comment on its ``[name]`` line and the comments set a blank line
    apart above its first key (a comment right above a key is the key's).
    """
    for name, table_spec in spec.tables.items():
        dotted = f"{prefix}.{name}" if prefix else name
        yield dotted, table_spec
        yield from iter_tables(table_spec, dotted)


def is_secret(name: str, key_spec: Any) -> bool:
    """True when the key's value is kept out of ``runtime_config.toml``, MLflow and the logs."""
    from hyrax.config.redact import is_secret_name

    return bool(key_spec.secret) or is_secret_name(name)


def description(key_spec: Any) -> str:
    """The key's comment as one text.

    ``KeySpec.description`` joins the lines of a comment that spans several with their ``#`` kept
    (``"... (public), # or the name ..."``); they are dropped here.
    """
    return re.sub(r"(?<=\s)#(?:\s+|$)", "", key_spec.description).strip()


def configuration_page() -> str:
    """The configuration reference, as MyST markdown."""
    from hyrax.config.manager import DEFAULT_CONFIG_PATH

    tables = list(iter_tables(default_spec()))
    lines = [
        "(config-reference)=",
        "# Configuration reference",
        "",
        f"Every table and key of `{DEFAULT_CONFIG_PATH.name}`, generated from it when these pages are "
        "built, through the same code (`hyrax.config.schema`) that checks a configuration when it is "
        "loaded. **Allowed** is what that check accepts: a value of another type, out of range or not "
        "among the choices is an error naming the key, before any work starts. {doc}`../configuration` "
        "explains the layers, the tags and the errors.",
        "",
        "- **Default** is written as TOML. `false` usually means *not set*, and the description says "
        "what happens then.",
        "- A *path* in your file is resolved against that file's folder.",
        "- An *open* table takes any keys, passed on as keyword arguments; the keys listed are defaults.",
        "- A *secret* value is never written to `runtime_config.toml`, MLflow or the logs.",
        "",
        "The tables:",
        "",
    ]
    for name, _ in tables:
        indent = "  " * name.count(".")
        lines.append(f"{indent}- {{ref}}`[{name}] <{label('config', name)}>`")
    lines.append("")
    for name, table_spec in tables:
        depth = name.count(".") + 2
        lines += [f"({label('config', name)})=", f"{'#' * depth} `[{name}]`", ""]
        notes = []
        if table_spec.description:
            notes.append(md_text(table_spec.description))
        if table_spec.open:
            notes.append("*Open table*: any key is accepted and passed on.")
        if table_spec.tables:
            children = ", ".join(
                f"{{ref}}`[{name}.{child}] <{label('config', f'{name}.{child}')}>`"
                for child in table_spec.tables
            )
            notes.append(f"Sub-tables: {children}.")
        if notes:
            lines += [" ".join(notes), ""]
        if table_spec.keys:
            lines += ["| Key | Default | Allowed | Description |", "| --- | --- | --- | --- |"]
            for key, key_spec in table_spec.keys.items():
                allowed = md_text(quoted_as_code(key_spec.describe_allowed()), in_table=True)
                if is_secret(key, key_spec):
                    allowed += "; **secret**"
                cells = [
                    code(key, in_table=True),
                    code(toml_value(key_spec.default), in_table=True),
                    allowed,
                    md_text(quoted_as_code(description(key_spec)), in_table=True),
                ]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        elif not table_spec.open and not table_spec.tables:
            lines += ["No keys.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# The verb pages.


def verb_parsers() -> dict[str, argparse.ArgumentParser]:
    """The sub-parser of every verb, as ``hyrax`` builds them (``hyrax_cli.main.build_parser``)."""
    from hyrax_cli.main import build_parser

    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparsers = dict(action.choices)
    for sub in subparsers.values():
        # A fixed width, so the page does not depend on the terminal that built it.
        sub.formatter_class = functools.partial(argparse.HelpFormatter, width=100)
    return subparsers


def numpydoc_sections(doc: str) -> tuple[str, dict[str, str]]:
    """Split a numpydoc docstring into its text before the first section and its sections by title."""
    pattern = re.compile(r"^([A-Z][A-Za-z ]+)\n-{3,}\n", re.M)
    matches = list(pattern.finditer(doc))
    intro = doc[: matches[0].start()] if matches else doc
    sections = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(doc)
        sections[match.group(1).strip()] = doc[match.end() : end].strip("\n")
    return intro.strip(), sections


def section_entries(text: str) -> list[tuple[str, str]]:
    """``(type or name line, description)`` of each entry of a numpydoc section."""
    entries: list[tuple[str, str]] = []
    for line in text.splitlines():
        if line and not line[0].isspace():
            entries.append((line.strip(), ""))
        elif entries and line.strip():
            head, body = entries[-1]
            entries[-1] = (head, f"{body}\n{line.strip()}".strip())
    return entries


def _annotation(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", repr(annotation))


def python_call(name: str, signature: inspect.Signature) -> str:
    """``h.<name>(<parameters>)``, with annotations as written in the source."""
    parts = []
    for parameter in signature.parameters.values():
        text = parameter.name
        if parameter.kind is parameter.VAR_POSITIONAL:
            text = "*" + text
        elif parameter.kind is parameter.VAR_KEYWORD:
            text = "**" + text
        if parameter.annotation is not parameter.empty:
            text += f": {_annotation(parameter.annotation)}"
        if parameter.default is not parameter.empty:
            text += f" = {parameter.default!r}"
        parts.append(text)
    returned = signature.return_annotation
    arrow = "" if returned in (signature.empty, "Any") else f" -> {_annotation(returned)}"
    return f"h.{name}({', '.join(parts)}){arrow}"


def example_call(name: str, signature: inspect.Signature) -> str:
    """``h.<name>(keyword=default, ...)``: a call that runs, spelling out the defaults."""
    arguments = [
        f"{parameter.name}={'...' if parameter.default is parameter.empty else repr(parameter.default)}"
        for parameter in signature.parameters.values()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    ]
    return f"h.{name}({', '.join(arguments)})"


def _option_rows(sub: argparse.ArgumentParser) -> list[str]:
    formatter = sub._get_formatter()
    rows = []
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            metavar = formatter._format_args(action, action.dest.upper()) if action.nargs != 0 else ""
            names = ", ".join(f"{option} {metavar}".strip() for option in action.option_strings)
        else:
            names = formatter._format_args(action, action.dest)
        help_text = formatter._expand_help(action) if action.help else ""
        if action.required:
            help_text = f"Required. {help_text}"
        rows.append(f"| {code(names, in_table=True)} | {md_text(help_text, in_table=True)} |")
    return rows


def _link_verbs(text: str, names: list[str], prefix: str = "") -> str:
    """Make each code span of ``text`` that starts with ``hyrax <verb>`` a link to that verb's page."""

    def replace(match: re.Match) -> str:
        words = match["code"].split()
        if len(words) >= 2 and words[0] == "hyrax" and words[1] in names:
            return f"[{match.group(0)}]({prefix}{words[1]}.md)"
        return match.group(0)

    return re.sub(r"(?<![\[{])(?P<ticks>`+)(?P<code>[^`]+?)(?P=ticks)(?!\])", replace, text)


def _entry(kind: str, text: str) -> str:
    """A bullet of a Returns or Raises section: the type in code, then its description on one line."""
    return f"- {code(kind)}: {md_text(' '.join(text.split()))}" if text else f"- {code(kind)}"


def tables_read(name: str, verb_class: type, tables: list[str]) -> list[str]:
    """The configuration tables a verb reads, by a heuristic.

    The table named like the verb; tables whose keys its docstrings, epilog or ``next_step`` name
    (``infer.model_weights_file``); tables its module indexes (``config["umap"]``); and
    ``EXTRA_TABLES``. ``[general]`` and ``[results]`` are left out: every verb reads them.
    """
    found: list[str] = []
    texts = [
        inspect.getdoc(verb_class) or "",
        inspect.getdoc(verb_class.run_function()) or "",
        str(verb_class.add_parser_kwargs.get("epilog", "")),
    ]
    try:
        source = inspect.getsource(inspect.getmodule(verb_class))
    except (OSError, TypeError):
        source = ""
    candidates = [name]
    for text in texts:
        for dotted in re.findall(r"\b([a-z_]+(?:\.[A-Za-z_]+)+)\b", text):
            parts = dotted.split(".")
            # The longest table prefix of a dotted key: data_set.HSCDataSet.data_dir -> data_set.HSCDataSet.
            for end in range(len(parts) - 1, 0, -1):
                if ".".join(parts[:end]) in tables:
                    candidates.append(".".join(parts[:end]))
                    break
    candidates += re.findall(r"config\[\"([a-z_]+)\"\]", source)
    candidates += EXTRA_TABLES.get(name, [])
    for table in candidates:
        if table in tables and table not in found and table not in ALWAYS_READ:
            found.append(table)
    return found


def writes_results(verb_class: type) -> bool:
    """True when the verb's code opens a results directory (``self.results_directory()``)."""
    try:
        return "results_directory()" in inspect.getsource(verb_class)
    except (OSError, TypeError):
        return False


def verb_page(
    name: str, verb_class: type, sub: argparse.ArgumentParser, tables: list[str], names: list[str]
) -> str:
    """The page of one verb, as MyST markdown."""
    run_doc = inspect.getdoc(verb_class.run_function()) or ""
    intro, sections = numpydoc_sections(run_doc)
    signature = verb_class.run_signature()
    lines = [f"({label('verb', name)})=", f"# `{name}`", "", md_text(verb_class.description()), ""]
    if intro:
        lines += [md_text(intro), ""]

    lines += ["## Command line", "", "```shell", f"hyrax {name} -c config.toml", "```", ""]
    rows = _option_rows(sub)
    own = [row for row in rows if not row.startswith(("| `-c CONFIG", "| `--set KEY=VALUE"))]
    lines += [
        "`-c` names your configuration file, layered over the defaults; `--set KEY=VALUE` changes one key "
        "(repeatable). Without `-c` the defaults apply.",
        "",
    ]
    if own:
        lines += ["Options of this verb:", "", "| Option | What it does |", "| --- | --- |", *own, ""]
    else:
        lines += ["The verb has no options of its own: its settings are configuration keys.", ""]
    epilog = verb_class.add_parser_kwargs.get("epilog")
    if epilog:
        lines += [md_text(str(epilog)), ""]
    help_text = _ANSI.sub("", sub.format_help()).rstrip()
    lines += [f"`hyrax {name} --help` prints:", "", "```text", help_text, "```", ""]

    lines += ["## From Python", "", "```python", "from hyrax import Hyrax", ""]
    lines += ['h = Hyrax()  # or Hyrax("config.toml")']
    lines += [f"result = {example_call(name, signature)}", "```", ""]
    lines += [f"Signature: {code(python_call(name, signature))}", ""]
    parameter_docs = {
        head.split(":")[0].strip(): text for head, text in section_entries(sections.get("Parameters", ""))
    }
    if signature.parameters:
        lines += ["| Parameter | Default | Description |", "| --- | --- | --- |"]
        for parameter in signature.parameters.values():
            default = "" if parameter.default is parameter.empty else repr(parameter.default)
            doc = parameter_docs.get(parameter.name, "")
            cells = [code(parameter.name, in_table=True), code(default, in_table=True) if default else ""]
            lines.append(f"| {cells[0]} | {cells[1]} | {md_text(doc, in_table=True)} |")
        lines.append("")
    returns = section_entries(sections.get("Returns", ""))
    if returns:
        lines += ["Returns:", ""]
        lines += [_entry(kind, text) for kind, text in returns]
        lines.append("")
    raises = section_entries(sections.get("Raises", ""))
    if raises:
        lines += ["Raises:", ""]
        lines += [_entry(kind, text) for kind, text in raises]
        lines.append("")

    lines += ["## Configuration", ""]
    read = tables_read(name, verb_class, tables)
    if read:
        links = ", ".join(f"{{ref}}`[{table}] <{label('config', table)}>`" for table in read)
        lines += [
            f"Tables it reads: {links}, and {{ref}}`[general] <config-general>`, as every verb does.",
            "",
        ]
    else:
        lines += ["It reads only {ref}`[general] <config-general>`, as every verb does.", ""]

    lines += ["## Results", ""]
    if writes_results(verb_class):
        lines += [
            f"A run writes a new directory `<general.results_dir>/YYYYMMDD-HHMMSS-{name}-<uid>/` with the "
            "`runtime_config.toml` it ran with, marked complete (`.hyrax_complete`) only when it finishes "
            f"(see {{doc}}`../../concepts`). `hyrax {name} -c <that directory>/runtime_config.toml` "
            "repeats it.",
            "",
        ]
    else:
        lines += ["It writes no results directory.", ""]
    if verb_class.next_step:
        lines += [f"Next, usually: {_link_verbs(md_text(verb_class.next_step), names)}.", ""]

    lines += ["## Example", ""]
    if name in EXAMPLES:
        lines += [EXAMPLES[name].rstrip(), ""]
    guides = GUIDES.get(name, [])
    if guides:
        links = ", ".join(f"[{title}](../../{target})" for target, title in guides)
        lines += [f"Worked through in: {links}.", ""]
    return "\n".join(lines)


def verbs_index_page(names: list[str], descriptions: dict[str, str]) -> str:
    """The index of the verb pages, as MyST markdown."""
    lines = [
        "(verb-reference)=",
        "# Verbs",
        "",
        "A verb is one step of the work: `hyrax <verb> -c config.toml` on the command line, "
        '`Hyrax("config.toml").<verb>()` in Python. These pages are generated from each verb\'s own '
        "code: its description, its command-line parser, and the docstring of its `run` method.",
        "",
        "| Verb | What it does |",
        "| --- | --- |",
    ]
    for name in names:
        lines.append(f"| [`{name}`]({name}.md) | {md_text(descriptions[name], in_table=True)} |")
    lines += [
        "",
        "Every verb takes `-c FILE` (your configuration, over the defaults) and `--set KEY=VALUE` "
        "(one key, repeatable). Exit codes: 0 success, 1 a runtime error, 2 a usage error, 130 interrupted.",
        "",
        "```{toctree}",
        ":maxdepth: 1",
        ":hidden:",
        "",
        *names,
        "```",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------
# Writing the pages.


def _write(path: Path, text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds it (so Sphinx re-reads only changed pages)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def generate(out_dir: str | Path) -> list[Path]:
    """Write the configuration reference and the verb pages into ``out_dir``; return the files.

    Generated verb pages of verbs that are no longer registered are removed.
    """
    from hyrax.registry import VERB_REGISTRY

    out_dir = Path(out_dir)
    written = [out_dir / "configuration.md"]
    _write(written[0], configuration_page())

    tables = [name for name, _ in iter_tables(default_spec())]
    names = VERB_REGISTRY.names()
    parsers = verb_parsers()
    verbs_dir = out_dir / "verbs"
    descriptions = {}
    for name in names:
        verb_class = VERB_REGISTRY.get(name)
        descriptions[name] = verb_class.description()
        path = verbs_dir / f"{name}.md"
        _write(path, verb_page(name, verb_class, parsers[name], tables, names))
        written.append(path)
    index = verbs_dir / "index.md"
    _write(index, verbs_index_page(names, descriptions))
    written.append(index)
    for stale in verbs_dir.glob("*.md"):
        if stale not in written:
            stale.unlink()
    return written


def _on_builder_inited(app: Any) -> None:
    generate(Path(app.srcdir) / GENERATED_DIR)


def setup(app: Any) -> dict[str, Any]:
    """Register the generator with Sphinx."""
    app.connect("builder-inited", _on_builder_inited)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
