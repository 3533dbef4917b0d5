"""The plug-in contract checks of ``hyrax.testing``, run over every built-in model and dataset.

The second half breaks one rule at a time in small plug-ins and checks that the contract check
fails, naming the rule and the fix: a check that cannot fail proves nothing. The vector database
backends are checked in ``tests/hyrax/vector_dbs/test_contract.py``.
"""

from __future__ import annotations

import io
import pickle
import shutil
import sys
import tarfile
import threading

import numpy as np
import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.base import HyraxDataset
from hyrax.models.base import HyraxModel, hyrax_model
from hyrax.registry import DATA_SET_REGISTRY, MODEL_REGISTRY, VECTOR_DB_REGISTRY
from hyrax.testing import ContractError, check_dataset, check_model, check_vector_db
from hyrax.vector_dbs.base import Records, SearchResult, UnknownIdError, VectorDB

pytestmark = pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyWarning")


def builtin_names(registry):
    """The registered names of Hyrax's own plug-ins, leaving out classes other tests register."""
    return [name for name in registry.names() if registry.get(name).__module__.startswith("hyrax.")]


# ----- every built-in model -----


def labelled_batch(shape=(4, 3, 32, 32)):
    generator = torch.Generator().manual_seed(0)
    return {"data": torch.rand(*shape, generator=generator), "label": torch.tensor([0, 1, 2, 0])}


@pytest.mark.parametrize("name", builtin_names(MODEL_REGISTRY))
def test_builtin_model_keeps_the_contract(name):
    config = load_config()
    config["model"]["HyraxCNN"]["num_classes"] = 3  # the sample's labels are 0-2
    check_model(MODEL_REGISTRY.get(name), labelled_batch(), config)


def test_a_model_checks_on_single_channel_images_without_labels():
    check_model(MODEL_REGISTRY.get("HyraxAutoencoder"), {"data": torch.rand(3, 1, 16, 16)})


# ----- every built-in dataset -----


def synthetic_config(tmp_path, request):
    config = load_config()
    config["data_set"]["SyntheticGalaxyDataSet"].update(size=12, image_size=16)
    return config


def random_config(tmp_path, request):
    config = load_config()
    config["data_set"]["HyraxRandomDataset"].update(size=12, shape=[2, 8, 8])
    return config


def hubble_config(tmp_path, request):
    config = load_config()
    # Few, bright sources: detection and the checks stay quick.
    config["data_set"]["HubbleDeepFieldDataSet"].update(detection_sigma=5.0, smoothing_sigma=0.0, min_area=50)
    return config


def fits_config(tmp_path, request):
    sample = request.getfixturevalue("hsc_sample_dir")
    config = load_config()
    config["data_set"]["FitsImageDataSet"].update(
        catalog=str(sample / "star_cat_correct.fits"),
        object_id_column="# object_id",
        filename_column="star_filename",
    )
    return config


def hsc_config(tmp_path, request):
    """A download-style folder of the real HSC sample: objects 1-5, each in HSC-G and HSC-I."""
    sample = request.getfixturevalue("hsc_sample_dir")
    folder = tmp_path / "hsc"
    folder.mkdir()
    sources = sorted((sample / "images").glob("*.fits"))
    for number in range(1, 6):
        for offset, filter_name in enumerate(("HSC-G", "HSC-I")):
            shutil.copyfile(
                sources[(2 * number + offset) % len(sources)], folder / f"{number}_{filter_name}.fits"
            )
    config = load_config()
    config["data_set"]["HSCDataSet"].update(data_dir=str(folder), shape=[24, 24])
    return config


def cifar_config(tmp_path, request):
    """A CIFAR-10 archive of 2 images per batch, already where the dataset looks, so nothing downloads."""
    rng = np.random.default_rng(0)
    archive = tmp_path / "data" / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    members = {"batches.meta": {b"label_names": [f"class{i}".encode() for i in range(10)]}}
    for name in [f"data_batch_{n}" for n in range(1, 6)] + ["test_batch"]:
        members[name] = {
            b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
            b"labels": rng.integers(0, 10, 2).tolist(),
        }
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            data = pickle.dumps(payload, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    config = load_config()
    config["general"]["data_dir"] = str(tmp_path / "data")
    config["data_set"]["HyraxCifarDataSet"].update(url="http://127.0.0.1:9/unreachable", known_hash=False)
    return config


def inference_config(tmp_path, request):
    """The results of a (fake) infer run over 8 synthetic galaxies, vectors in reverse order."""
    from hyrax.datasets.synthetic_galaxy_dataset import SyntheticGalaxyDataSet
    from hyrax.inference.results_format import write_dataset_config
    from hyrax.inference.results_writer import ResultsWriter
    from hyrax.results import create_results_dir, mark_complete

    config = load_config()
    config["general"]["results_dir"] = str(tmp_path / "results")
    config["data_set"]["SyntheticGalaxyDataSet"].update(size=8, image_size=16)
    origin = SyntheticGalaxyDataSet(config)
    order = np.arange(7, -1, -1)
    directory = create_results_dir(config["general"]["results_dir"], "infer")
    with ResultsWriter(directory) as writer:
        writer.write(
            [origin.ids()[i] for i in order],
            np.stack([order, order**2], axis=1).astype(np.float32),
            order,
            [origin.get_label(int(i)) for i in order],
        )
    write_dataset_config(directory, config)
    mark_complete(directory)
    config["data_set"]["InferenceDataSet"]["results_dir"] = str(directory)
    return config


DATASET_CONFIGS = {
    "SyntheticGalaxyDataSet": synthetic_config,
    "HyraxRandomDataset": random_config,
    "HubbleDeepFieldDataSet": hubble_config,
    "FitsImageDataSet": fits_config,
    "HSCDataSet": hsc_config,
    "HyraxCifarDataSet": cifar_config,
    "InferenceDataSet": inference_config,
}


@pytest.mark.parametrize("name", builtin_names(DATA_SET_REGISTRY))
def test_builtin_dataset_keeps_the_contract(name, tmp_path, request):
    assert name in DATASET_CONFIGS, f"Add a small, offline configuration of the new dataset {name} here."
    check_dataset(DATA_SET_REGISTRY.get(name), DATASET_CONFIGS[name](tmp_path, request))


def test_random_dataset_with_bad_pixels_passes_only_when_they_are_allowed(tmp_path, request):
    config = random_config(tmp_path, request)
    config["data_set"]["HyraxRandomDataset"]["nan_fraction"] = 0.1
    with pytest.raises(ContractError, match="data is finite.*allow_non_finite=True"):
        check_dataset(DATA_SET_REGISTRY.get("HyraxRandomDataset"), config)
    check_dataset(DATA_SET_REGISTRY.get("HyraxRandomDataset"), config, allow_non_finite=True)


def test_importing_hyrax_testing_loads_no_torch():
    import subprocess

    code = "import sys, hyrax.testing; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# ----- the checks fail on broken plug-ins -----


@pytest.fixture
def scratch_registries():
    """Unregister, after the test, every plug-in the test registered."""
    registries = (MODEL_REGISTRY, DATA_SET_REGISTRY, VECTOR_DB_REGISTRY)
    before = [set(registry.names()) for registry in registries]
    yield
    for registry, names in zip(registries, before, strict=True):
        for name in set(registry.names()) - names:
            registry.unregister(name)


@pytest.fixture
def net(scratch_registries):
    """A small, correct model; the tests derive broken ones from it."""

    @hyrax_model("ContractTestNet")
    class ContractTestNet(HyraxModel):
        def __init__(self, config, sample_shape):
            super().__init__(config, sample_shape)
            self.linear = torch.nn.Linear(int(np.prod(sample_shape)), 3)

        def forward(self, x):
            return self.linear(x.flatten(1))

        def compute_loss(self, batch):
            return self(self.to_tensor(batch)).pow(2).mean()

    return ContractTestNet


SAMPLE = {"data": torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(1))}


def test_a_correct_third_party_model_passes(net):
    check_model(net, SAMPLE)


def broken_model(net, name, **methods):
    return hyrax_model(name)(type(name, (net,), methods))


@pytest.mark.parametrize(
    ("methods", "check", "fix"),
    [
        (
            {"infer_step": lambda self, batch: self(self.to_tensor(batch))[:2]},
            "infer_step returns one row per object",
            r"returned \(2, 3\) for a batch of 4 objects",
        ),
        (
            {
                "infer_step": lambda self, batch: (
                    self(self.to_tensor(batch)) - self(self.to_tensor(batch)).mean(0)
                )
            },
            "infer_step is independent of the batch",
            "no statistics over the batch",
        ),
        (
            {"infer_step": lambda self, batch: self(self.to_tensor(batch)) + torch.rand(1)},
            "infer_step is deterministic",
            "dropout and sampling belong to training mode",
        ),
        (
            {"infer_step": lambda self, batch: self(self.to_tensor(batch)) * float("nan")},
            "infer_step output is finite floats",
            "NaN or infinity",
        ),
        (
            {"train_step": lambda self, batch: {"loss": self.compute_loss(batch)}},
            "train_step returns a dict of finite floats with 'loss'",
            r"loss.item\(\), not tensors",
        ),
        (
            {"train_step": lambda self, batch: {"accuracy": 1.0}},
            "train_step returns a dict of finite floats with 'loss'",
            r"returned keys \['accuracy'\]",
        ),
        (
            {
                "train_step": lambda self, batch: (
                    self.compute_loss(batch).backward(),
                    self.optimizer.step(),
                    {"loss": 1.0},
                )[-1]
            },
            "train_step calls optimize and changes the weights",
            r"never called self.optimize\(loss\) but changed the weights.*gradient clipping",
        ),
        (
            {"train_step": lambda self, batch: {"loss": self.compute_loss(batch).item()}},
            "train_step calls optimize and changes the weights",
            r"Call self.optimize\(loss\)",
        ),
        (
            {"validate_step": lambda self, batch: {"loss": float("inf")}},
            "validate_step returns a dict of finite floats with 'loss'",
            "'loss': inf",
        ),
    ],
    ids=[
        "too-few-rows",
        "batch-statistics",
        "random-output",
        "nan-output",
        "tensor-loss",
        "no-loss",
        "bypasses-optimize",
        "never-steps",
        "infinite-validation-loss",
    ],
)
def test_a_broken_model_fails_naming_the_check_and_the_fix(net, methods, check, fix):
    broken = broken_model(net, "ContractTestBroken", **methods)
    with pytest.raises(ContractError, match=fix) as caught:
        check_model(broken, SAMPLE)
    assert caught.value.check == check
    assert str(caught.value).startswith(f"ContractTestBroken fails the check '{check}'")
    assert isinstance(caught.value, AssertionError)


def test_unseeded_initial_weights_fail(net):
    def __init__(self, config, sample_shape):  # noqa: N807 (an __init__ put in a class by type())
        net.__init__(self, config, sample_shape)
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.random.default_rng().normal(size=(3, 16))))

    with pytest.raises(ContractError, match=r"differ in 1 tensor\(s\): 'linear.weight'.*distributed run"):
        check_model(broken_model(net, "ContractTestUnseeded", __init__=__init__), SAMPLE)


def test_state_outside_the_state_dict_fails_the_save_load_round_trip(net):
    def __init__(self, config, sample_shape):  # noqa: N807
        net.__init__(self, config, sample_shape)
        self.shift = torch.randn(3)  # a plain attribute: not saved, so a reloaded model differs

    def forward(self, x):
        return net.forward(self, x) + self.shift

    broken = broken_model(net, "ContractTestPlainTensor", __init__=__init__, forward=forward)
    with pytest.raises(ContractError, match="save and load round trip.*not in plain attributes"):
        check_model(broken, SAMPLE)


def test_an_infer_step_that_changes_the_model_fails(net):
    def __init__(self, config, sample_shape):  # noqa: N807
        net.__init__(self, config, sample_shape)
        self.register_buffer("calls", torch.zeros(()))

    def infer_step(self, batch):
        self.calls += 1
        return self(self.to_tensor(batch))

    broken = broken_model(net, "ContractTestCounter", __init__=__init__, infer_step=infer_step)
    with pytest.raises(ContractError, match="infer_step leaves the model unchanged.*'calls'"):
        check_model(broken, SAMPLE)


def test_an_unregistered_model_is_told_to_use_the_decorator(net):
    plain = type("ContractTestPlain", (net,), {})
    with pytest.raises(
        ContractError, match=r'registered in MODEL_REGISTRY.*@hyrax_model\("ContractTestPlain"\)'
    ):
        check_model(plain, SAMPLE)


def test_a_model_whose_check_data_rejects_the_sample_says_so(net):
    def check_data(cls, config, dataset):
        if dataset.get_label(0) is None:
            raise ValueError("needs labels")

    broken = broken_model(net, "ContractTestNeedsLabels", check_data=classmethod(check_data))
    with pytest.raises(
        ContractError, match="check_data accepts the sample.*needs labels.*give the sample 'label'"
    ):
        check_model(broken, SAMPLE)
    check_model(broken, {**SAMPLE, "label": torch.tensor([0, 1, 0, 1])})


def test_a_sample_that_is_not_a_batch_is_refused():
    with pytest.raises(ValueError, match="at least 2 objects"):
        check_model(HyraxModel, {"data": torch.rand(1, 3)})
    with pytest.raises(TypeError, match="needs a sample batch"):
        check_model(HyraxModel, torch.rand(4, 3))


def test_check_model_leaves_the_global_generators_as_they_were(net):
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    check_model(net, SAMPLE)
    assert torch.equal(torch.rand(1), expected)


@pytest.fixture
def dataset_class(scratch_registries, monkeypatch):
    """Make a dataset class picklable, as one defined at module level is; data-loader workers need it."""

    def publish(name, bases, methods):
        cls = type(name, bases, methods)
        cls.__qualname__ = name
        monkeypatch.setattr(sys.modules[__name__], name, cls, raising=False)
        return cls

    return publish


@pytest.fixture
def squares(dataset_class):
    """A small, correct dataset; the tests derive broken ones from it."""

    class _Squares(HyraxDataset):  # the leading _ keeps this one out of the registry
        def __len__(self):
            return 6

        def get_data(self, index):
            return np.full((1, 2, 2), index, dtype=np.float32)

        def ids(self):
            return [f"sq{i}" for i in range(6)]

        def metadata_fields(self):
            return ["side"]

        def metadata_table(self):
            return {"side": np.arange(6) * 2.0}

    return dataset_class("ContractTestSquares", (_Squares,), {})


def test_a_correct_third_party_dataset_passes(squares):
    check_dataset(squares)


@pytest.mark.parametrize(
    ("methods", "check", "fix"),
    [
        (
            {"ids": lambda self: ["a", "b", "a", "c", "d", "b"]},
            "ids are unique",
            "2 ids occur more than once: 'a', 'b'",
        ),
        ({"ids": lambda self: list(range(6))}, "ids are unique", "Return str ids"),
        ({"ids": lambda self: ["a", "b"]}, "ids are unique", "2 ids for 6 objects"),
        (
            {"get_data": lambda self, index: np.random.random((1, 2, 2)).astype(np.float32)},
            "the same object gives the same data",
            r"default_rng\(\[seed, index\]\)",
        ),
        (
            {"get_data": lambda self, index: np.zeros((1, 2, 2))},
            "get_data returns a float32",
            "float64 array",
        ),
        (
            {"get_data": lambda self, index: np.zeros((1, 2, 1 + index % 2), np.float32)},
            "data has one shape",
            "different shapes",
        ),
        ({"get_label": lambda self, index: index if index else None}, "labels are integers", "have none"),
        ({"get_label": lambda self, index: 1.5}, "labels are integers", r"get_label\(0\) is 1.5"),
        (
            {"metadata_table": lambda self: {"side": np.arange(5)}},
            "metadata gives each field",
            "raised IndexError",
        ),
        ({"metadata_fields": lambda self: ["side", "area"]}, "metadata gives each field", "area"),
        (
            {"metadata": lambda self, indices, fields: {f: np.arange(len(indices)) for f in fields}},
            "metadata gives each field",
            "does not follow the order of the indices",
        ),
        ({"index_of": lambda self, object_id: 0}, "index_of finds each id", "is 0, not 1"),
        (
            {"__getitem__": lambda self, index: {"data": self.get_data(index)}},
            "keeps HyraxDataset.__getitem__",
            "get_data",
        ),
        ({"__len__": lambda self: 0}, "has objects", "len"),
    ],
    ids=[
        "duplicate-ids",
        "int-ids",
        "too-few-ids",
        "random-data",
        "float64-data",
        "ragged-shapes",
        "some-labels",
        "float-label",
        "short-metadata",
        "missing-field",
        "metadata-order",
        "index-of",
        "own-getitem",
        "empty",
    ],
)
def test_a_broken_dataset_fails_naming_the_check_and_the_fix(squares, dataset_class, methods, check, fix):
    broken = dataset_class("ContractTestBrokenSquares", (squares,), methods)
    with pytest.raises(ContractError, match=fix) as caught:
        check_dataset(broken)
    assert caught.value.check.startswith(check)
    assert str(caught.value).startswith(f"ContractTestBrokenSquares fails the check '{caught.value.check}'")


def test_a_dataset_that_cannot_be_pickled_fails(squares, dataset_class):
    def __init__(self, config=None):  # noqa: N807
        squares.__init__(self, config)
        self.lock = threading.Lock()

    broken = dataset_class("ContractTestLocked", (squares,), {"__init__": __init__})
    with pytest.raises(ContractError, match="survives pickling.*lock.*'spawn'.*__setstate__"):
        check_dataset(broken)


def test_a_dataset_kept_out_of_the_registry_must_be_importable(squares):
    hidden = type("ContractTestHidden", (squares,), {"registry_name": None})
    with pytest.raises(ContractError, match="registry_name = None keeps it out of the registry"):
        check_dataset(hidden)


def test_random_augmentations_pass_when_declared(squares, dataset_class):
    noisy = dataset_class(
        "ContractTestNoisy",
        (squares,),
        {"get_data": lambda self, index: np.random.random((1, 2, 2)).astype(np.float32)},
    )
    check_dataset(noisy, deterministic=False)


class _ListDB(VectorDB):
    """A tiny numpy backend: correct, so that one broken method at a time shows in the checks."""

    registry_name = None

    def _open(self):
        self._file = self.path / f"{self.collection}.pkl"
        stored = pickle.loads(self._file.read_bytes()) if self._file.is_file() else {}
        self._records = stored.get("records", {})
        self._settings_kept = stored.get("settings")
        return self._settings_kept

    def _save_settings(self, settings):
        self._settings_kept = settings
        self._write()

    def _write(self):
        self.path.mkdir(parents=True, exist_ok=True)
        state = {"settings": self._settings_kept, "records": self._records}
        self._file.write_bytes(pickle.dumps(state))

    def _close(self):
        self._write()

    def _count(self):
        return len(self._records)

    def _upsert(self, ids, vectors, metadata):
        for row, object_id in enumerate(ids):
            self._records[object_id] = (vectors[row], {k: v[row] for k, v in metadata.items()})

    def _distances(self, queries, stored):
        if self.metric == "cosine":
            normal = np.linalg.norm(queries, axis=1)[:, None] * np.linalg.norm(stored, axis=1)[None, :]
            return 1 - queries @ stored.T / normal
        return ((queries[:, None, :] - stored[None, :, :]) ** 2).sum(-1)

    def _search(self, vectors, k):
        ids = np.array(list(self._records))
        distances = self._distances(vectors, np.stack([v for v, _ in self._records.values()]))
        order = np.argsort(distances, axis=1, kind="stable")[:, :k]
        return SearchResult(ids[order], np.take_along_axis(distances, order, 1).astype(np.float32))

    def _get(self, ids, include_metadata):
        missing = [i for i in ids if i not in self._records]
        if missing:
            raise UnknownIdError(missing, self.where)
        rows = [self._records[i] for i in ids]
        fields = (self.metadata_fields or []) if include_metadata else []
        return Records(
            np.stack([v for v, _ in rows]), {f: np.asarray([m[f] for _, m in rows]) for f in fields}
        )


def test_a_correct_third_party_vector_db_passes(tmp_path):
    check_vector_db(_ListDB, tmp_path)


@pytest.mark.parametrize(
    ("methods", "check", "found"),
    [
        (
            {"_distances": lambda self, q, s: np.sqrt(_ListDB._distances(self, q, s))},
            "l2 is the squared Euclidean distance",
            "expected",
        ),
        (
            {"_close": lambda self: None, "_save_settings": lambda self, s: None},
            "reopens from its folder",
            "count 0",
        ),
        (
            {"_upsert": lambda self, i, v, m: _ListDB._upsert(self, i[:1], v[:1], m)},
            "each object is its own nearest neighbour",
            "count",
        ),
    ],
    ids=["euclidean-not-squared", "forgets-on-close", "drops-vectors"],
)
def test_a_broken_vector_db_fails_naming_the_check(tmp_path, methods, check, found):
    broken = type("_BrokenListDB", (_ListDB,), {"registry_name": None, **methods})
    with pytest.raises(ContractError, match=found) as caught:
        check_vector_db(broken, tmp_path)
    assert caught.value.check.startswith(check)
