"""The Hugging Face folder format of causal LMs (GPT-2 and Llama), read and written without transformers.

    model = load_causal_lm("path/to/folder")      # config.json, *.safetensors, tokenizer.json -> CausalLM
    save_causal_lm("out", model.config, params, model.tokenizer)
    tok = train_tokenizer(texts, vocab_size=300)  # byte-level BPE, trained in code
    model = write_tiny_checkpoint("tiny", "llama", key, texts=texts)

A folder holds config.json, model.safetensors (or model-0000i-of-0000N.safetensors shards listed by
model.safetensors.index.json) and tokenizer.json; `save_causal_lm` also writes generation_config.json
and tokenizer_config.json so that transformers' `AutoModelForCausalLM` / `AutoTokenizer` read the folder
as they would a hub download. Tensor layouts are HF's: GPT-2's Conv1D weights are [in, out] (flax's
kernel layout already), Llama's Linear weights are [out, in] (transposed here).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from algorithms import validate
from algorithms.preference.causal_lm import FAMILIES, CausalLM, CausalLMConfig, init_params, param_shapes

CONFIG, WEIGHTS, INDEX, TOKENIZER = "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json"
GENERATION_CONFIG, TOKENIZER_CONFIG = "generation_config.json", "tokenizer_config.json"

# Token strings tried, in order, when config.json has no id for a special token (GPT-2, Llama 1-3, Gemma
# style vocabularies)
SPECIAL_TOKENS = {
    "bos": ("<|begin_of_text|>", "<s>", "<bos>", "<|endoftext|>"),
    "eos": ("<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>"),
    "pad": ("<pad>", "<|pad|>", "[PAD]", "<|finetune_right_pad_id|>"),
}
_LOAD_DTYPES = ("float32", "bfloat16", "float16")


class _Tensor(NamedTuple):
    """One HF tensor: its name, HF shape, our parameter path, and the layout maps both ways."""

    name: str
    shape: tuple[int, ...]
    path: tuple[str, ...]
    to_param: Callable[[np.ndarray], np.ndarray]
    to_hf: Callable[[np.ndarray], np.ndarray]


def _same(x):
    return x


def _transpose(x):
    return np.ascontiguousarray(x.T)


def _tensors(config: CausalLMConfig) -> list[_Tensor]:
    """Every HF tensor of `config`'s model, with its parameter path in `causal_lm.init_params`."""
    c = config
    v, d, f, p = c.vocab_size, c.d_model, c.d_ff, c.max_positions
    out = []

    def add(name, shape, path, to_param=_same, to_hf=_same):
        out.append(_Tensor(name, tuple(shape), tuple(path), to_param, to_hf))

    if c.family == "gpt2":
        add("wte.weight", (v, d), ("wte", "embedding"))
        add("wpe.weight", (p, d), ("wpe", "embedding"))
        for i in range(c.n_layers):
            h, m = f"h.{i}.", f"h_{i}"
            for ln in ("ln_1", "ln_2"):
                add(h + ln + ".weight", (d,), (m, ln, "scale"))
                add(h + ln + ".bias", (d,), (m, ln, "bias"))
            # fused QKV: HF's [D, 3D] columns are q | k | v, ours [D, 3, D]
            add(h + "attn.c_attn.weight", (d, 3 * d), (m, "attn", "c_attn", "kernel"),
                lambda x: x.reshape(x.shape[0], 3, -1), lambda x: x.reshape(x.shape[0], -1))
            add(h + "attn.c_attn.bias", (3 * d,), (m, "attn", "c_attn", "bias"),
                lambda x: x.reshape(3, -1), lambda x: x.reshape(-1))
            for name, (n_in, n_out) in (("attn.c_proj", (d, d)), ("mlp.c_fc", (d, f)), ("mlp.c_proj", (f, d))):
                add(h + name + ".weight", (n_in, n_out), (m, *name.split("."), "kernel"))
                add(h + name + ".bias", (n_out,), (m, *name.split("."), "bias"))
        add("ln_f.weight", (d,), ("ln_f", "scale"))
        add("ln_f.bias", (d,), ("ln_f", "bias"))
        return out
    hd, kv = c.head_dim, c.n_kv_heads
    add("model.embed_tokens.weight", (v, d), ("embed_tokens", "embedding"))
    for i in range(c.n_layers):
        h, m = f"model.layers.{i}.", f"layers_{i}"
        for name, n_out, n_in in (("self_attn.q_proj", c.n_heads * hd, d), ("self_attn.k_proj", kv * hd, d),
                                  ("self_attn.v_proj", kv * hd, d), ("self_attn.o_proj", d, c.n_heads * hd),
                                  ("mlp.gate_proj", f, d), ("mlp.up_proj", f, d), ("mlp.down_proj", d, f)):
            add(h + name + ".weight", (n_out, n_in), (m, *name.split("."), "kernel"), _transpose, _transpose)
        for ln in ("input_layernorm", "post_attention_layernorm"):
            add(h + ln + ".weight", (d,), (m, ln, "scale"))
    add("model.norm.weight", (d,), ("norm", "scale"))
    if not c.tie_embeddings:
        add("lm_head.weight", (v, d), ("lm_head", "kernel"), _transpose, _transpose)
    return out


def _ignored(config: CausalLMConfig, name: str) -> bool:
    """Tensors a checkpoint may carry that are not parameters: causal-mask and RoPE buffers, and the
    output head of a tied model (a copy of the embedding)."""
    if config.family == "gpt2":
        return name == "lm_head.weight" or name.endswith((".attn.bias", ".attn.masked_bias"))
    return name.endswith(".inv_freq") or (config.tie_embeddings and name == "lm_head.weight")


# ----------------------------------------------------------------------------- reading
def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise ValueError(f"{what}: {path} is missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what}: cannot parse {path} as JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what}: {path} must hold a JSON object, got {type(data).__name__}")
    return data


def _read_safetensors(file: Path, names: set[str] | None = None) -> dict[str, np.ndarray]:
    """The tensors (all, or those in `names`) of one .safetensors file as numpy arrays (bf16 via ml_dtypes)."""
    import safetensors

    if not file.is_file():
        raise ValueError(f"weights file {file} is missing")
    try:
        with safetensors.safe_open(str(file), framework="numpy") as f:
            return {k: f.get_tensor(k) for k in f.keys() if names is None or k in names}
    except Exception as e:  # SafetensorError (corrupt header or data), OSError, unsupported dtypes
        raise ValueError(f"cannot read safetensors file {file}: {e}") from None


def _read_weights(folder: Path) -> dict[str, np.ndarray]:
    """All tensors of a folder: model.safetensors, or the shards named by model.safetensors.index.json."""
    if (folder / INDEX).is_file():
        index = _read_json(folder / INDEX, "sharded weights index")
        weight_map = index.get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ValueError(f"{folder / INDEX} must have a 'weight_map' object of tensor name -> file name")
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            if Path(shard).name != shard:
                raise ValueError(f"{folder / INDEX} names shard {shard!r} outside the folder")
            wanted = {k for k, v in weight_map.items() if v == shard}
            tensors.update(_read_safetensors(folder / shard, wanted))
        return tensors
    if (folder / WEIGHTS).is_file():
        return _read_safetensors(folder / WEIGHTS)
    present = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".h5"))
    hint = f" (found {', '.join(present)}: convert to safetensors first)" if present else ""
    raise ValueError(f"no {WEIGHTS} or {INDEX} in {folder}{hint}")


def _special_ids(hf: dict, generation: dict, tokenizer) -> dict:
    """bos/eos/pad ids: config.json, else generation_config.json, else the tokenizer's usual token strings."""
    out = {}
    for name, candidates in SPECIAL_TOKENS.items():
        key = f"{name}_token_id"
        value = hf.get(key)
        if value is None:
            value = generation.get(key)
        if value is None and tokenizer is not None:
            value = next((i for t in candidates if (i := tokenizer.token_to_id(t)) is not None), None)
        out[key] = value
    return out


def _load_tokenizer(file: Path):
    import tokenizers

    if not file.is_file():
        raise ValueError(f"tokenizer: {file} is missing (a folder with only a sentencepiece tokenizer.model or "
                         "vocab.json/merges.txt can be converted with transformers: "
                         "AutoTokenizer.from_pretrained(folder).save_pretrained(folder))")
    try:
        return tokenizers.Tokenizer.from_file(str(file))
    except Exception as e:  # tokenizers raises its own Exception subclass on bad JSON or unknown models
        raise ValueError(f"tokenizer: cannot load {file} ({e})") from None


def _set(tree: dict, path: tuple[str, ...], value):
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def params_from_hf(config: CausalLMConfig, tensors: dict[str, np.ndarray], dtype=jnp.float32,
                   source: str = "checkpoint"):
    """The params pytree of HF-named tensors (a "transformer." prefix on GPT-2 names is accepted).
    Every expected tensor must be there with its HF shape; unknown tensors are an error, since they
    mean a feature this implementation lacks (biases, extra norms) and would silently be dropped."""
    if config.family == "gpt2":
        tensors = {k.removeprefix("transformer."): v for k, v in tensors.items()}
    expected = _tensors(config)
    missing = [t.name for t in expected if t.name not in tensors]
    if missing:
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise ValueError(f"{source} lacks tensor(s) {', '.join(missing[:5])}{more} of a {config.family} model")
    known = {t.name for t in expected}
    unknown = sorted(k for k in tensors if k not in known and not _ignored(config, k))
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise ValueError(f"{source} has tensor(s) {', '.join(unknown[:5])}{more} that a {config.family} model "
                         f"of this config does not use")
    params: dict = {}
    for t in expected:
        array = tensors[t.name]
        if tuple(array.shape) != t.shape:
            raise ValueError(f"{source}: tensor {t.name} has shape {tuple(array.shape)}, the config needs {t.shape}")
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise ValueError(f"{source}: tensor {t.name} has dtype {array.dtype}, not a floating point type")
        _set(params, t.path, jnp.asarray(t.to_param(np.asarray(array, dtype))))
    return params


def load_causal_lm(path, dtype=jnp.float32) -> CausalLM:
    """A `CausalLM` from a Hugging Face folder: config.json, model.safetensors (or sharded with
    model.safetensors.index.json) and tokenizer.json. Weights stored as bf16/fp16 are cast to `dtype`
    (float32, bfloat16 or float16; the forward pass computes in float32 either way)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"load_causal_lm: {folder} is not a folder")
    try:
        name = jnp.dtype(dtype).name
    except TypeError:
        name = str(dtype)
    dtype = jnp.dtype(validate.choice("load_causal_lm dtype", name, _LOAD_DTYPES))
    hf = _read_json(folder / CONFIG, "model config")
    validate.choice(f"model_type in {folder / CONFIG}", hf.get("model_type"), FAMILIES)
    generation = _read_json(folder / GENERATION_CONFIG, "generation config") \
        if (folder / GENERATION_CONFIG).is_file() else {}
    tokenizer = _load_tokenizer(folder / TOKENIZER)
    try:
        config = CausalLMConfig.from_hf({**hf, **_special_ids(hf, generation, tokenizer)})
    except ValueError as e:
        raise ValueError(f"{folder / CONFIG}: {e}") from None
    if tokenizer.get_vocab_size() > config.vocab_size:
        raise ValueError(f"{folder / TOKENIZER} has {tokenizer.get_vocab_size()} tokens, more than the model's "
                         f"vocab_size {config.vocab_size} in {folder / CONFIG}")
    params = params_from_hf(config, _read_weights(folder), dtype, source=str(folder))
    return CausalLM(config, params, tokenizer, folder)


# ----------------------------------------------------------------------------- writing
def _get(tree, path: tuple[str, ...], config: CausalLMConfig):
    for key in path:
        if not isinstance(tree, Mapping) or key not in tree:
            raise ValueError(f"params lack {'/'.join(path)} of a {config.family} model")
        tree = tree[key]
    return tree


def params_to_hf(config: CausalLMConfig, params) -> dict[str, np.ndarray]:
    """HF-named numpy tensors of `params` (checked against `config`'s shapes; dtype kept)."""
    expected = param_shapes(config)
    out = {}
    for t in _tensors(config):
        want = _get(expected, t.path, config).shape
        array = np.asarray(jax.device_get(_get(params, t.path, config)))
        if array.shape != want:
            raise ValueError(f"params {'/'.join(t.path)} has shape {array.shape}, the config needs {want}")
        out[t.name] = np.ascontiguousarray(t.to_hf(array))
    n_leaves = len(jax.tree_util.tree_leaves(params))
    if n_leaves != len(out):
        raise ValueError(f"params have {n_leaves} arrays, a {config.family} model of this config has {len(out)}")
    if config.family == "gpt2":  # the name GPT2LMHeadModel.save_pretrained writes
        out = {f"transformer.{k}": v for k, v in out.items()}
    return out


def _write_weights(folder: Path, tensors: dict[str, np.ndarray], max_shard_bytes: int | None):
    import safetensors.numpy

    metadata = {"format": "pt"}  # transformers refuses safetensors without a known format tag
    total = sum(a.nbytes for a in tensors.values())
    if max_shard_bytes is None or total <= max_shard_bytes:
        safetensors.numpy.save_file(tensors, str(folder / WEIGHTS), metadata=metadata)
        return
    shards, size = [{}], 0
    for name, array in tensors.items():
        if shards[-1] and size + array.nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = array
        size += array.nbytes
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        safetensors.numpy.save_file(shard, str(folder / file), metadata=metadata)
        weight_map.update({name: file for name in shard})
    (folder / INDEX).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=2))


def save_causal_lm(path, config: CausalLMConfig, params, tokenizer, *, max_shard_bytes: int | None = None) -> Path:
    """Write a Hugging Face folder at `path`: config.json, model.safetensors (HF names and layouts;
    shards plus model.safetensors.index.json when larger than max_shard_bytes), tokenizer.json,
    tokenizer_config.json and generation_config.json (bos/eos/pad). Atomic: the folder is written
    beside `path` and renamed into place, replacing an earlier model folder there (one with a
    config.json, or empty); any other existing path is refused."""
    import tokenizers

    if not isinstance(config, CausalLMConfig):
        raise ValueError(f"save_causal_lm config must be a CausalLMConfig, got {type(config).__name__}")
    if not isinstance(tokenizer, tokenizers.Tokenizer):
        raise ValueError(f"save_causal_lm tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    if tokenizer.get_vocab_size() > config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.get_vocab_size()} tokens, more than the model's vocab_size "
                         f"{config.vocab_size}")
    if max_shard_bytes is not None:
        validate.integer("save_causal_lm max_shard_bytes", max_shard_bytes, 1)
    target = Path(path)
    if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or (target / CONFIG).is_file())):
        raise ValueError(f"save_causal_lm: {target} exists and is not a model folder (no {CONFIG}); not replacing it")
    tensors = params_to_hf(config, params)
    dtypes = {a.dtype.name for a in tensors.values()}
    hf = {**config.to_hf(), "torch_dtype": dtypes.pop() if len(dtypes) == 1 else "float32"}
    ids = {f"{n}_token_id": getattr(config, f"{n}_id") for n in ("bos", "eos", "pad")}
    token = {f"{n}_token": tokenizer.id_to_token(i) for n in ("bos", "eos", "pad")
             if (i := getattr(config, f"{n}_id")) is not None}
    tokenizer_config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": config.max_positions,
                        "clean_up_tokenization_spaces": False, **token}

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / CONFIG).write_text(json.dumps(hf, indent=2))
        (tmp / GENERATION_CONFIG).write_text(json.dumps({k: v for k, v in ids.items() if v is not None}, indent=2))
        (tmp / TOKENIZER_CONFIG).write_text(json.dumps(tokenizer_config, indent=2))
        tokenizer.save(str(tmp / TOKENIZER))
        _write_weights(tmp, tensors, max_shard_bytes)
        if target.exists():  # two renames: the old folder is out of the way only for an instant
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


# ----------------------------------------------------------------------------- tokenizer and tiny models
def train_tokenizer(texts: Iterable[str], vocab_size: int, special_tokens=("<|endoftext|>", "<pad>")):
    """A byte-level BPE `tokenizers.Tokenizer` (GPT-2's scheme) trained on `texts`, special tokens first
    (ids 0, 1, ...). Every byte has a token, so any text encodes and decodes back exactly; the
    vocabulary is the special tokens, the 256 byte symbols and merges up to vocab_size (a smaller
    vocab_size gives no merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    vocab_size = validate.integer("train_tokenizer vocab_size", vocab_size, 1)
    texts = list(texts) if not isinstance(texts, str) else None
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("train_tokenizer texts must be a non-empty iterable of str")
    special_tokens = tuple(special_tokens)
    if not all(isinstance(t, str) and t for t in special_tokens) or len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"train_tokenizer special_tokens must be distinct non-empty str, got {special_tokens!r}")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return tok


def write_tiny_checkpoint(path, family: str, key: jax.Array, *, texts: Iterable[str], vocab_size: int = 256,
                          d_model: int = 32, n_layers: int = 2, n_heads: int = 4, n_kv_heads: int | None = None,
                          d_ff: int | None = None, max_positions: int = 64) -> CausalLM:
    """A randomly initialised model of `family` with a tokenizer trained on `texts`, saved at `path` in
    the Hugging Face format and loaded back. eos and bos are "<|endoftext|>", pad "<pad>"; the model's
    vocab_size is the tokenizer's (at least 258: the 256 bytes and the two special tokens). Llama
    models get an untied output head."""
    validate.choice("write_tiny_checkpoint family", family, FAMILIES)
    tokenizer = train_tokenizer(texts, vocab_size)
    eos, pad = tokenizer.token_to_id("<|endoftext|>"), tokenizer.token_to_id("<pad>")
    config = CausalLMConfig(family=family, vocab_size=tokenizer.get_vocab_size(), n_layers=n_layers,
                            d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv_heads, d_ff=d_ff,
                            max_positions=max_positions, bos_id=eos, eos_id=eos, pad_id=pad)
    save_causal_lm(path, config, init_params(config, key), tokenizer)
    return load_causal_lm(path)
