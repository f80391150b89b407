from __future__ import annotations

import torch

from polymodal.fusion.late_mean import MeanLateFusion
from polymodal.fusion.late_vote import VoteLateFusion, masked_median

DIMS = {"a": 2, "b": 2, "c": 2}


def fixed_heads(fusion: VoteLateFusion, biases: dict[str, list[float]]) -> None:
    """Heads that ignore their input and predict ``biases`` (logits or values)."""
    with torch.no_grad():
        for m, bias in biases.items():
            head = fusion.heads[m]
            assert isinstance(head, torch.nn.Linear)
            head.weight.zero_()
            head.bias.copy_(torch.tensor(bias))


def run(fusion: VoteLateFusion, present: list[list[bool]]) -> torch.Tensor:
    mask = torch.tensor(present)
    features = {m: torch.randn(mask.shape[0], d) for m, d in DIMS.items()}
    return fusion(features, {m: mask[:, i] for i, m in enumerate(DIMS)})


def test_majority_wins_over_a_more_confident_minority() -> None:
    fusion = VoteLateFusion(DIMS, num_outputs=3).eval()
    # a and b weakly prefer class 0; c is very sure of class 1
    fixed_heads(fusion, {"a": [0.5, 0.0, 0.0], "b": [0.5, 0.0, 0.0], "c": [0.0, 9.0, 0.0]})
    out = run(fusion, [[True, True, True], [True, False, True], [False, False, True]])
    assert out.argmax(dim=-1).tolist() == [0, 1, 1]  # row 1: a tie, broken by mean probability
    probabilities = torch.softmax(out, dim=-1)
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(3))
    assert probabilities[0, 0] > 0.5  # two of three votes


def test_tie_is_broken_by_mean_probability() -> None:
    fusion = VoteLateFusion(DIMS, num_outputs=3).eval()
    fixed_heads(fusion, {"a": [2.0, 0.0, 0.0], "b": [0.0, 0.0, 1.0], "c": [0.0, 0.0, 0.0]})
    out = run(fusion, [[True, True, False]])
    assert out.argmax(dim=-1).tolist() == [0]


def test_multilabel_vote_per_label() -> None:
    fusion = VoteLateFusion(DIMS, num_outputs=2, activation="sigmoid").eval()
    fixed_heads(fusion, {"a": [3.0, -1.0], "b": [1.0, -1.0], "c": [-5.0, 4.0]})
    probabilities = torch.sigmoid(run(fusion, [[True, True, True], [False, True, True]]))
    torch.testing.assert_close(probabilities[0], torch.tensor([2 / 3, 1 / 3]))
    # b and c disagree on both labels: the mean probability decides
    mean = (torch.sigmoid(torch.tensor([1.0, -1.0])) + torch.sigmoid(torch.tensor([-5.0, 4.0]))) / 2
    torch.testing.assert_close(probabilities[1], mean)


def test_regression_takes_the_median_of_present_predictions() -> None:
    fusion = VoteLateFusion(DIMS, num_outputs=1, activation="identity").eval()
    fixed_heads(fusion, {"a": [1.0], "b": [7.0], "c": [2.0]})
    out = run(fusion, [[True, True, True], [True, True, False], [False, False, True], [False, False, False]])
    torch.testing.assert_close(out, torch.tensor([[2.0], [4.0], [2.0], [0.0]]))


def test_nothing_present_gives_uniform_probabilities() -> None:
    fusion = VoteLateFusion(DIMS, num_outputs=4).eval()
    torch.testing.assert_close(torch.softmax(run(fusion, [[False, False, False]]), -1), torch.full((1, 4), 0.25))


def test_training_mode_uses_the_mean_of_probabilities() -> None:
    torch.manual_seed(0)
    vote = VoteLateFusion(DIMS, num_outputs=3).train()
    mean = MeanLateFusion(DIMS, num_outputs=3)
    mean.heads.load_state_dict(vote.heads.state_dict())
    mask = torch.tensor([[True, True, False], [True, True, True]])
    features = {m: torch.randn(2, d) for m, d in DIMS.items()}
    masks = {m: mask[:, i] for i, m in enumerate(DIMS)}
    torch.testing.assert_close(vote(features, masks), mean(features, masks))


def test_masked_median_matches_torch_median_on_present_values() -> None:
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(50, 5, 3, generator=gen)
    present = torch.rand(50, 5, generator=gen) > 0.4
    present[:, 0] = True
    out = masked_median(values, present)
    for i in range(50):
        kept = values[i, present[i]]
        lower = kept.median(dim=0).values  # torch takes the lower middle value
        upper = -(-kept).median(dim=0).values
        torch.testing.assert_close(out[i], (lower + upper) / 2)
