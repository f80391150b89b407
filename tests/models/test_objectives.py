import pytest

from polymodal.models.objectives import OBJECTIVES

from .conftest import build


def test_registry_lists_the_objectives() -> None:
    assert OBJECTIVES.names() == ["autoencoder", "contrastive", "dcca", "dccae", "projection", "vae"]


def test_unknown_objective_and_argument_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown objective 'simclr'; known objectives: autoencoder"):
        build("simclr")
    with pytest.raises(ValueError, match=r"unknown argument.*temperatur for objective 'contrastive'"):
        build("contrastive", temperatur=0.1)
    with pytest.raises(ValueError, match="input_info are set from the data"):
        build("vae", input_info={})
