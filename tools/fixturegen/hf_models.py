"""BERT / XLM-RoBERTa encoders built from torch.nn modules with Hugging Face's module tree, so
state_dict() names are the exact HF tensor names (embeddings.word_embeddings.weight,
encoder.layer.0.attention.self.query.weight, ...). Forward passes follow transformers'
modeling_bert.py / modeling_xlm_roberta.py in eval mode (dropout is the identity).

`Bugs` plants known implementation mistakes into the forward pass; the generator uses it to
prove that the committed reference outputs would catch each of them.
"""
import dataclasses
import math
import re

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class Bugs:
    gelu_tanh: bool = False            # tanh-approximate GELU instead of the erf form
    layer_norm_eps: float = None       # a wrong LayerNorm eps (None = the config's)
    no_query_bias: bool = False        # query projection without its bias
    ignore_padding_mask: bool = False  # attention also looks at padding tokens
    xlmr_positions_from: int = None    # XLM-R position ids starting here instead of pad_idx + 1
    mean_pool_padding: bool = False    # mean pooling that also averages padding positions


NO_BUGS = Bugs()


@dataclasses.dataclass(frozen=True)
class Config:
    vocab_size: int
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 64
    max_position_embeddings: int = 64
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    is_xlmr: bool = False


def _layer_norm(module, x, bugs):
    eps = module.eps if bugs.layer_norm_eps is None else bugs.layer_norm_eps
    return F.layer_norm(x, module.normalized_shape, module.weight, module.bias, eps)


class BertEmbeddings(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def position_ids(self, input_ids, bugs):
        seq_len = input_ids.shape[1]
        if not self.config.is_xlmr:
            return torch.arange(seq_len).unsqueeze(0).expand_as(input_ids)
        pad = self.config.pad_token_id
        if bugs.xlmr_positions_from is not None:
            return (torch.arange(seq_len) + bugs.xlmr_positions_from).unsqueeze(0).expand_as(
                input_ids)
        # create_position_ids_from_input_ids: real tokens count from pad + 1, padding gets pad.
        mask = input_ids.ne(pad).int()
        return (torch.cumsum(mask, dim=1).type_as(mask) * mask).long() + pad

    def forward(self, input_ids, token_type_ids, bugs):
        embeddings = (self.word_embeddings(input_ids)
                      + self.token_type_embeddings(token_type_ids)
                      + self.position_embeddings(self.position_ids(input_ids, bugs)))
        return _layer_norm(self.LayerNorm, embeddings, bugs)


class BertSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)

    def _heads(self, x):
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, hidden, extended_mask, bugs):
        query_bias = None if bugs.no_query_bias else self.query.bias
        q = self._heads(F.linear(hidden, self.query.weight, query_bias))
        k = self._heads(self.key(hidden))
        v = self._heads(self.value(hidden))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        if not bugs.ignore_padding_mask:
            scores = scores + extended_mask
        probs = torch.softmax(scores, dim=-1)
        context = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return context.view(hidden.shape)


class BertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, residual, bugs):
        return _layer_norm(self.LayerNorm, self.dense(hidden) + residual, bugs)


class BertAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.self = BertSelfAttention(config)
        self.output = BertSelfOutput(config)

    def forward(self, hidden, extended_mask, bugs):
        return self.output(self.self(hidden, extended_mask, bugs), hidden, bugs)


class BertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = nn.GELU()  # hidden_act "gelu" = exact erf form

    def forward(self, hidden, bugs):
        x = self.dense(hidden)
        if bugs.gelu_tanh:
            return F.gelu(x, approximate="tanh")
        return self.intermediate_act_fn(x)


class BertOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden, residual, bugs):
        return _layer_norm(self.LayerNorm, self.dense(hidden) + residual, bugs)


class BertLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attention = BertAttention(config)
        self.intermediate = BertIntermediate(config)
        self.output = BertOutput(config)

    def forward(self, hidden, extended_mask, bugs):
        attention_output = self.attention(hidden, extended_mask, bugs)
        return self.output(self.intermediate(attention_output, bugs), attention_output, bugs)


class BertEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden, extended_mask, bugs):
        for layer in self.layer:
            hidden = layer(hidden, extended_mask, bugs)
        return hidden


class BertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden):
        return self.activation(self.dense(hidden[:, 0]))


class BertModel(nn.Module):
    """BertModel and XLMRobertaModel (same tensors; XLM-R differs in position ids and config)."""

    def __init__(self, config):
        super().__init__()
        self.embeddings = BertEmbeddings(config)
        self.encoder = BertEncoder(config)
        self.pooler = BertPooler(config)

    def forward(self, input_ids, token_type_ids, attention_mask, bugs=NO_BUGS):
        dtype = self.embeddings.word_embeddings.weight.dtype
        # get_extended_attention_mask: (1 - mask) * finfo(dtype).min, broadcast over heads/queries.
        extended_mask = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        hidden = self.encoder(self.embeddings(input_ids, token_type_ids, bugs), extended_mask,
                              bugs)
        return hidden, self.pooler(hidden)


class BertForSequenceClassification(nn.Module):
    def __init__(self, config, num_labels):
        super().__init__()
        self.bert = BertModel(config)
        self.classifier = nn.Linear(config.hidden_size, num_labels)

    def forward(self, input_ids, token_type_ids, attention_mask, bugs=NO_BUGS):
        hidden, pooled = self.bert(input_ids, token_type_ids, attention_mask, bugs)
        return hidden, self.classifier(pooled)


class RobertaClassificationHead(nn.Module):
    def __init__(self, config, num_labels):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_proj = nn.Linear(config.hidden_size, num_labels)

    def forward(self, hidden):
        return self.out_proj(torch.tanh(self.dense(hidden[:, 0])))


class XLMRobertaForSequenceClassification(nn.Module):
    def __init__(self, config, num_labels):
        super().__init__()
        self.roberta = XLMRobertaModelNoPooler(config)
        self.classifier = RobertaClassificationHead(config, num_labels)

    def forward(self, input_ids, token_type_ids, attention_mask, bugs=NO_BUGS):
        hidden = self.roberta(input_ids, token_type_ids, attention_mask, bugs)
        return hidden, self.classifier(hidden)


class XLMRobertaModelNoPooler(BertModel):
    """The classifier's body: HF builds it with add_pooling_layer=False (no pooler tensors)."""

    def __init__(self, config):
        super().__init__(config)
        del self.pooler

    def forward(self, input_ids, token_type_ids, attention_mask, bugs=NO_BUGS):
        dtype = self.embeddings.word_embeddings.weight.dtype
        extended_mask = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        return self.encoder(self.embeddings(input_ids, token_type_ids, bugs), extended_mask, bugs)


@dataclasses.dataclass(frozen=True)
class InitScales:
    """Standard deviations (and means) of the fixture weights; see sharp_init."""
    embedding_std: float = 0.005
    query_key_std: float = 0.3
    query_key_bias_std: float = 0.5
    layer_norm_bias_std: float = 0.2
    ffn_std: float = 0.3
    ffn_tail_std: float = 0.1
    ffn_tail_mean: float = -2.8
    ffn_tail_out_mean_std: float = 2.5
    classifier_std: float = 0.25
    other_std: float = 0.2


def sharp_init(model, seed, scales=InitScales()):
    """Seeded weights, deliberately far from the 0.02 init: large Q/K weights and biases (peaked
    attention), non-trivial LayerNorm affine terms, small embeddings (so the embedding LayerNorm
    sees a small variance and its eps matters), half the FFN units in GELU's negative tail.
    Parameter order is fixed, so reruns are equal."""
    generator = torch.Generator().manual_seed(seed)

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator) * std + mean

    def uniform(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for name, param in model.named_parameters():
            shape = param.shape
            is_weight = name.endswith("weight")
            if "embeddings." in name and "LayerNorm" not in name:
                value = normal(shape, scales.embedding_std)
            elif "LayerNorm.weight" in name:
                value = uniform(shape, 0.5, 1.5)
            elif "LayerNorm.bias" in name:
                value = normal(shape, scales.layer_norm_bias_std)
            elif ".query." in name or ".key." in name:
                value = normal(shape, scales.query_key_std if is_weight
                               else scales.query_key_bias_std)
            elif "intermediate.dense" in name:
                # Half the FFN units sit in GELU's negative tail, where the erf and tanh forms
                # differ most relative to the value itself.
                tail = shape[0] // 2
                if is_weight:
                    value = torch.cat([normal((shape[0] - tail, shape[1]), scales.ffn_std),
                                       normal((tail, shape[1]), scales.ffn_tail_std)])
                else:
                    value = torch.cat([normal((shape[0] - tail,), 0.5),
                                       normal((tail,), 0.3, mean=scales.ffn_tail_mean)])
            elif re.fullmatch(r"(.*\.)?encoder\.layer\.\d+\.output\.dense\.weight", name):
                # Each output unit weighs the tail units with a common sign, so their small
                # GELU differences add up instead of cancelling.
                tail = shape[1] // 2
                value = normal(shape, scales.other_std)
                value[:, shape[1] - tail:] += normal((shape[0], 1), scales.ffn_tail_out_mean_std)
            elif "classifier" in name:
                value = normal(shape, scales.classifier_std if is_weight else 0.1)
            else:  # value, attention output, output dense, pooler
                value = normal(shape, scales.other_std if is_weight else 0.1)
            param.copy_(value)
