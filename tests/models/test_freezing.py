import pytest
import torch
from torch import nn

from polymodal.models.freezing import Freezable


class Net(Freezable):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def test_frozen_parts_keep_their_weights_and_statistics_in_training() -> None:
    torch.manual_seed(0)
    net = Net()
    net.freeze(["body"])
    before = {k: v.clone() for k, v in net.body.state_dict().items()}
    opt = torch.optim.AdamW(net.parameters(), lr=0.1, weight_decay=0.1)
    net.train()
    assert net.head.training and not any(m.training for m in net.body.modules())
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(8, 3) * 5 + 2).sum().backward()
        opt.step()
    assert all(torch.equal(before[k], v) for k, v in net.body.state_dict().items())  # running stats too
    assert all(p.grad is None for p in net.body.parameters()) and net.head.weight.grad is not None
    assert list(net.state_dict()) == list(Net().state_dict())  # freezing adds nothing to the weights


def test_freezing_an_unknown_part_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"cannot freeze 'encoders.image': the model has no such submodule "
                                         r"\(top level: \['body', 'head'\]\)"):
        Net().freeze(["encoders.image"])
