"""Contract checks for Hyrax plug-ins: the checks every built-in model, dataset and vector database passes.

A plug-in author runs them from their own tests, as scikit-learn's ``check_estimator`` is run on
third-party estimators::

    from hyrax.testing import check_model

    def test_my_model_keeps_the_contract():
        check_model(MyModel, {"data": torch.rand(4, 1, 32, 32)})

Each check raises :class:`ContractError` (an ``AssertionError``) naming the plug-in, the check that
failed, what it found and what to change. Importing this module is cheap: torch and the plug-ins are
imported when a check runs.
"""

from hyrax.testing._common import ContractError
from hyrax.testing._datasets import check_dataset
from hyrax.testing._models import check_model
from hyrax.testing._vector_dbs import check_vector_db

__all__ = ["ContractError", "check_dataset", "check_model", "check_vector_db"]
