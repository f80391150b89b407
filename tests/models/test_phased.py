import pytest
from torch import nn

from polymodal.models.phased import TrainingPhase, check_phases


def test_every_parameter_in_exactly_one_phase() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    first, second = list(model[0].parameters()), list(model[1].parameters())
    check_phases(model, [TrainingPhase("a", first), TrainingPhase("b", second)])
    with pytest.raises(ValueError, match=r"parameters in no training phase \(they would never train\): \['1.weight', "
                                         r"'1.bias'\]"):
        check_phases(model, [TrainingPhase("a", first)])
    with pytest.raises(ValueError, match="a parameter is in both phases 'a' and 'b'"):
        check_phases(model, [TrainingPhase("a", first + second), TrainingPhase("b", second)])
    with pytest.raises(ValueError, match="phase 'b': steps must be >= 1 and lr_scale > 0"):
        check_phases(model, [TrainingPhase("a", first), TrainingPhase("b", second, steps=0)])
