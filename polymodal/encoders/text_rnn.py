"""Recurrent text encoders: embedding, bidirectional GRU or LSTM over packed sequences, masked mean."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from polymodal.encoders.base import Encoder
from polymodal.encoders.layers import check_dropout, check_input, check_positive, masked_mean

PAD_ID = 0


class RNNTextEncoder(Encoder):
    """Token ids ``[B, L]`` (0 = padding) to ``[B, output_dim]``.

    Sequences are packed by their non-padding length so the recurrence never reads padding; the
    outputs of both directions are averaged over the real tokens and projected to ``output_dim``.
    A row with no token (all padding) gives the projection of zeros: finite.
    """

    cell: type[nn.GRU] | type[nn.LSTM] = nn.GRU

    def __init__(
        self,
        vocab_size: int,
        output_dim: int = 128,
        embedding_dim: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(vocab_size=vocab_size, output_dim=output_dim, embedding_dim=embedding_dim)
        check_positive(hidden_dim=hidden_dim, num_layers=num_layers)
        check_dropout(dropout)
        self.vocab_size = int(vocab_size)
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.rnn = self.cell(
            embedding_dim,
            hidden_dim,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.projection = nn.Linear(2 * hidden_dim, output_dim)
        self.output_dim = int(output_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, [None, None], type(self).__name__)
        mask = x != PAD_ID
        # all-padding rows still need a length >= 1 to be packed; masked_mean ignores them anyway
        lengths = mask.sum(dim=1).clamp_min(1).cpu()
        packed = pack_padded_sequence(self.embedding(x), lengths, batch_first=True, enforce_sorted=False)
        outputs, _ = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        pooled = masked_mean(outputs, mask)
        out: Tensor = self.projection(self.dropout(pooled))
        return out


class GRUTextEncoder(RNNTextEncoder):
    """Bidirectional GRU text encoder."""

    cell = nn.GRU


class LSTMTextEncoder(RNNTextEncoder):
    """Bidirectional LSTM text encoder.

    Example
    -------
    >>> import torch
    >>> LSTMTextEncoder(vocab_size=10, output_dim=4)(torch.tensor([[3, 4, 0], [0, 0, 0]])).shape
    torch.Size([2, 4])
    """

    cell = nn.LSTM
