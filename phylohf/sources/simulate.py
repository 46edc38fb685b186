"""Simulated Hugging Face ecosystem: the default data source and its ground truth.

``simulate(n)`` returns a listing shaped like ``GET /api/models?full=true&cardData=true``
(camelCase, one row per model) and a JSON-serialisable ``truth``. Every step is a
vectorised numpy/pyarrow operation; Python loops run only over depth levels, trait
groups and small vocabularies.

Generative model
----------------
Time. Models are indexed in creation order; ``createdAt`` increases strictly with the
index along an exponential growth curve (2019 -> mid 2025), so a parent (always an
earlier index) is older than its children and dates increase down lineages.

Topology. Model 0, and each later model with probability ``root_rate``, is a root (a
base model). Any other model picks a primary parent by preferential attachment,
P(j) ~ children_j + a, with the Simon/Yule copy trick: with probability
``uniform_parent`` a uniformly drawn earlier model, else the parent of a uniformly
drawn earlier child; copy chains are resolved by pointer jumping. Each child gets a
relation (finetune, adapter, quantized, merge); a merge has 2-4 parents, the extra
ones drawn from earlier members of its family (``merge_same_family``) or anywhere by
the same attachment rule. Families are the trees of primary parents.

Traits. Five categorical trait groups: architecture, task (pipeline_tag), license,
language set and dataset; the last three have an undeclared state (None or []).
Roots draw from base distributions (task, languages and dataset conditioned on the
architecture family); children inherit from the primary parent through
per-generation transition matrices, one vectorised step per depth level.

* ``directional``: off the diagonal P[i, j] = rate * pi_j * C_ij * G_ij (F81-like: pi
  the base distribution of declared states, C a symmetric compatibility mask), plus
  declared <-> undeclared switches balanced at the base undeclared share (undeclared is
  a state of the chain). G_ij = bias for favoured changes (restrictive/commercial
  license -> permissive or copyleft; multilingual -> English only) and 1/bias back, and
  each parent draws one change from ``P_shared`` that each child adopts with
  probability ``sibling_shared_rate`` (else it draws its own from ``P_individual``), so
  siblings are closer to each other than to their parent. Children's cards are rarer,
  shorter and more templated than roots', and their template follows the relation.
* the neutral scenarios plant none of that. Mutation is symmetric: P[i, j] = c C_ij, one
  c per trait and case, set so that a value changes about as often as in the directional
  marginal ``s P_shared + (1-s) P_individual`` (no stationary frequencies, which would
  themselves be a drift from founders that sit elsewhere). The value evolves on every
  node; whether a node declares it is an inherited declared/undeclared chain of its own
  (the same drop and re-declare rates), so missingness does not depend on the value.
  Cards evolve as three symmetric characters of their own: presence, kind (free text or the
  Hub template) and a length class (2^L sentences), each child flipping presence and kind
  with probability ``card_flip`` and stepping L up or down by one with ``card_flip`` / 2
  each (clipped): nothing depends on root, relation or direction. ``neutral`` has nothing
  more; ``founder``:
  every root declares a restrictive license and a multilingual language set;
  ``heterogeneous``: each parent is a copier (``copier_share``) whose children change
  with probability ``copier_rate`` per trait, or an editor (``editor_rate``);
  ``relations``: rates times ``relation_rate_scale`` by the relation of the edge;
  ``hard-neutral``: the three together.

The library follows architecture, task and relation (adapter -> peft,
quantized -> gguf/mlx); free-form tags, card text, downloads and likes follow the
model's context.

Dirt. Declared licenses, languages and tasks are hidden at small rates (removed from
tags and cardData; ``truth["hidden"]`` keeps them); some parents are deleted from the
listing (the listing keeps exactly ``n_models`` rows, children still reference them);
cardData parent ids sometimes come as URLs or padded with spaces; a few models
declare themselves or one of their children as a parent (self references, cycles).
"""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from .scenarios import DESCRIPTIONS as _DESCRIPTIONS
from .scenarios import SCENARIOS

_NEUTRAL = {"neutral": (), "founder": ("founder",), "heterogeneous": ("heterogeneous",),  # what each adds
            "relations": ("relations",), "hard-neutral": ("founder", "heterogeneous", "relations")}
RELATIONS = ("finetune", "adapter", "quantized", "merge")
FINETUNE, ADAPTER, QUANTIZED, MERGE = range(4)

FAMILIES = ("decoder", "encoder", "seq2seq", "vision", "audio", "diffusion", "rl")
_FAMILY_MODALITY = ("text", "text", "text", "vision", "audio", "image", "rl")
_SPOKEN = np.array([True, True, True, False, True, False, False])  # families declaring languages

# (model_type, class prefix, family, library, root weight)
ARCHITECTURES = (
    ("llama", "Llama", "decoder", "transformers", 16.0),
    ("mistral", "Mistral", "decoder", "transformers", 7.0),
    ("qwen2", "Qwen2", "decoder", "transformers", 8.0),
    ("gemma2", "Gemma2", "decoder", "transformers", 2.5),
    ("gemma", "Gemma", "decoder", "transformers", 1.5),
    ("phi3", "Phi3", "decoder", "transformers", 2.0),
    ("gpt2", "GPT2", "decoder", "transformers", 5.0),
    ("gpt_neox", "GPTNeoX", "decoder", "transformers", 1.5),
    ("falcon", "Falcon", "decoder", "transformers", 0.8),
    ("opt", "OPT", "decoder", "transformers", 1.0),
    ("bloom", "Bloom", "decoder", "transformers", 0.8),
    ("mixtral", "Mixtral", "decoder", "transformers", 0.8),
    ("bert", "Bert", "encoder", "transformers", 9.0),
    ("roberta", "Roberta", "encoder", "transformers", 4.0),
    ("xlm-roberta", "XLMRoberta", "encoder", "transformers", 3.0),
    ("deberta-v2", "DebertaV2", "encoder", "transformers", 2.0),
    ("distilbert", "DistilBert", "encoder", "transformers", 4.0),
    ("electra", "Electra", "encoder", "transformers", 1.0),
    ("mpnet", "MPNet", "encoder", "transformers", 2.0),
    ("t5", "T5", "seq2seq", "transformers", 4.0),
    ("bart", "Bart", "seq2seq", "transformers", 1.5),
    ("marian", "Marian", "seq2seq", "transformers", 1.5),
    ("mbart", "MBart", "seq2seq", "transformers", 0.5),
    ("mt5", "MT5", "seq2seq", "transformers", 0.5),
    ("vit", "ViT", "vision", "transformers", 3.5),
    ("swin", "Swin", "vision", "transformers", 1.0),
    ("convnext", "ConvNext", "vision", "transformers", 1.0),
    ("detr", "Detr", "vision", "transformers", 0.8),
    ("resnet", "ResNet", "vision", "timm", 1.2),
    ("whisper", "Whisper", "audio", "transformers", 3.0),
    ("wav2vec2", "Wav2Vec2", "audio", "transformers", 2.5),
    ("stable-diffusion", "", "diffusion", "diffusers", 4.0),
    ("stable-diffusion-xl", "", "diffusion", "diffusers", 2.0),
    ("flux", "", "diffusion", "diffusers", 1.0),
    ("LunarLander-v2", "", "rl", "stable-baselines3", 2.0),
    ("CartPole-v1", "", "rl", "stable-baselines3", 0.6),
    ("Huggy", "", "rl", "ml-agents", 0.6),
)

# root task distribution per family; tasks sharing a family may mutate into each other
TASK_MIX = {
    "decoder": {"text-generation": 90, "text-classification": 5, "feature-extraction": 3,
                "question-answering": 1, "token-classification": 1},
    "encoder": {"text-classification": 38, "token-classification": 14, "fill-mask": 12,
                "question-answering": 8, "feature-extraction": 10, "sentence-similarity": 15,
                "zero-shot-classification": 3},
    "seq2seq": {"text2text-generation": 45, "translation": 25, "summarization": 25,
                "text-classification": 5},
    "vision": {"image-classification": 72, "object-detection": 14, "image-segmentation": 9,
               "feature-extraction": 5},
    "audio": {"automatic-speech-recognition": 80, "audio-classification": 20},
    "diffusion": {"text-to-image": 85, "image-to-image": 15},
    "rl": {"reinforcement-learning": 100},
}
TASKS = tuple(dict.fromkeys(t for mix in TASK_MIX.values() for t in mix))
_HEADS = {"text-generation": "ForCausalLM", "text-classification": "ForSequenceClassification",
          "zero-shot-classification": "ForSequenceClassification",
          "token-classification": "ForTokenClassification", "fill-mask": "ForMaskedLM",
          "question-answering": "ForQuestionAnswering", "feature-extraction": "Model",
          "sentence-similarity": "Model", "text2text-generation": "ForConditionalGeneration",
          "translation": "ForConditionalGeneration", "summarization": "ForConditionalGeneration",
          "image-classification": "ForImageClassification", "object-detection": "ForObjectDetection",
          "image-segmentation": "ForSemanticSegmentation", "automatic-speech-recognition": "ForCTC",
          "audio-classification": "ForSequenceClassification"}
_HEAD_OVERRIDES = {("whisper", "automatic-speech-recognition"): "WhisperForConditionalGeneration",
                   ("marian", "translation"): "MarianMTModel",
                   ("marian", "text2text-generation"): "MarianMTModel"}
_CONFIGS = tuple(  # config JSON text per (architecture, task)
    json.dumps({"model_type": model_type,
                "architectures": [_HEAD_OVERRIDES.get((model_type, task), prefix + _HEADS.get(task, "Model"))]})
    for model_type, prefix, _, _, _ in ARCHITECTURES for task in TASKS)

# (license id, class, weight among declared root licenses)
LICENSES = (
    ("apache-2.0", "permissive", 32.0), ("mit", "permissive", 11.0), ("other", "other", 9.0),
    ("llama2", "restrictive", 4.0), ("llama3", "restrictive", 3.0), ("llama3.1", "restrictive", 2.5),
    ("llama3.2", "restrictive", 1.0), ("gemma", "restrictive", 2.0),
    ("cc-by-nc-4.0", "restrictive", 5.0), ("cc-by-nc-sa-4.0", "restrictive", 1.0),
    ("openrail", "restrictive", 4.0), ("creativeml-openrail-m", "restrictive", 5.0),
    ("bigscience-openrail-m", "restrictive", 0.6), ("openrail++", "restrictive", 1.0),
    ("cc-by-4.0", "permissive", 3.0), ("bsd-3-clause", "permissive", 0.8),
    ("cc0-1.0", "permissive", 0.8), ("afl-3.0", "permissive", 1.5),
    ("artistic-2.0", "permissive", 0.3), ("wtfpl", "permissive", 0.4),
    ("cc-by-sa-4.0", "copyleft", 1.5), ("gpl-3.0", "copyleft", 1.5),
    ("agpl-3.0", "copyleft", 0.5), ("lgpl-3.0", "copyleft", 0.3), ("unknown", "other", 2.0),
)
# license_name of ``license: other``, one per family: names phylohf cannot classify, so that the
# simulator's class "other" is phylohf's too (licenses.NAMES classifies the known ones)
_OTHER_LICENSE_NAMES = ("custom", "proprietary", "model-license", "license-agreement", "terms-of-use",
                        "acceptable-use-policy", "see-license", "company-license")

# (language codes, weight among declared root language sets)
LANGUAGE_SETS = (
    (("en",), 58.0), (("zh",), 4.0), (("fr",), 2.5), (("de",), 2.0), (("es",), 2.5), (("ja",), 2.0),
    (("ko",), 2.0), (("ru",), 2.0), (("pt",), 1.5), (("ar",), 1.5), (("vi",), 1.2), (("tr",), 1.0),
    (("it",), 1.0), (("nl",), 0.6), (("pl",), 0.6), (("id",), 0.8), (("hi",), 0.8), (("fa",), 0.7),
    (("sv",), 0.4), (("uk",), 0.4), (("th",), 0.4), (("yue",), 0.2), (("ceb",), 0.1),
    (("multilingual",), 1.2),
    (("en", "zh"), 2.2), (("en", "fr"), 1.2), (("en", "de"), 0.9), (("en", "es"), 0.9), (("en", "ja"), 0.6),
    (("en", "ko"), 0.5), (("en", "ru"), 0.5), (("en", "vi"), 0.3), (("en", "fil"), 0.1),
    (("multilingual", "en"), 0.5),
    (("en", "fr", "de"), 0.8), (("en", "fr", "de", "es", "it"), 1.0), (("en", "zh", "ja", "ko"), 0.6),
    (("en", "hi", "bn", "ta", "te", "mr"), 0.4),
    (("en", "fr", "de", "es", "it", "pt", "nl", "pl", "ru", "zh", "ja", "ko", "ar", "hi", "tr", "vi"), 1.2),
)

# (dataset id, modality, weight among declared root datasets)
DATASETS = (
    ("imdb", "text", 3.0), ("glue", "text", 2.0), ("squad", "text", 2.0), ("conll2003", "text", 1.5),
    ("emotion", "text", 1.5), ("wikitext", "text", 1.0), ("tatsu-lab/alpaca", "text", 2.0),
    ("yahma/alpaca-cleaned", "text", 1.5), ("Open-Orca/OpenOrca", "text", 1.0),
    ("HuggingFaceH4/ultrachat_200k", "text", 1.5), ("HuggingFaceH4/ultrafeedback_binarized", "text", 1.0),
    ("teknium/OpenHermes-2.5", "text", 1.0), ("databricks/databricks-dolly-15k", "text", 1.0),
    ("openai/gsm8k", "text", 1.0), ("cnn_dailymail", "text", 1.0), ("samsum", "text", 1.0),
    ("wmt16", "text", 1.0), ("sentence-transformers/all-nli", "text", 1.0),
    ("cifar10", "vision", 1.0), ("imagefolder", "vision", 2.0), ("beans", "vision", 1.0),
    ("food101", "vision", 0.5), ("imagenet-1k", "vision", 0.5),
    ("mozilla-foundation/common_voice_11_0", "audio", 1.5), ("librispeech_asr", "audio", 0.5),
    ("lambdalabs/pokemon-blip-captions", "image", 0.5),
)

LIBRARIES = ("transformers", "peft", "gguf", "mlx", "diffusers", "sentence-transformers", "timm",
             "stable-baselines3", "ml-agents")
_LIB = {name: i for i, name in enumerate(LIBRARIES)}
_ARCH_FAMILY = np.array([FAMILIES.index(a[2]) for a in ARCHITECTURES])
_ARCH_LIBRARY = np.array([_LIB[a[3]] for a in ARCHITECTURES])
_CONFIG_LIBRARIES = np.isin(np.arange(len(LIBRARIES)),
                            [_LIB["transformers"], _LIB["peft"], _LIB["sentence-transformers"]])

# authors of base models with many children, per family; quantizers per kind of quantization
_ORGS = (("meta-llama", "mistralai", "Qwen", "google", "microsoft", "deepseek-ai", "tiiuae", "EleutherAI", "nvidia"),
         ("google-bert", "FacebookAI", "microsoft", "sentence-transformers", "allenai"),
         ("google-t5", "facebook", "Helsinki-NLP"), ("google", "microsoft", "facebook", "timm"),
         ("openai", "facebook"), ("stabilityai", "CompVis", "black-forest-labs", "runwayml"), ("sb3", "ThomasSimonini"))
_QUANTIZERS = (("TheBloke", "LoneStriker", "unsloth", "RichardErkhov"),
               ("TheBloke", "bartowski", "mradermacher", "QuantFactory", "second-state", "MaziyarPanahi"),
               ("mlx-community",))
_SIZES = {"decoder": ("7b", "8b", "1.5b", "0.5b", "3b", "13b", "70b", "1b", "125m", "14b"),
          "encoder": ("base", "large", "small", "mini", "base-uncased", "base-cased"),
          "seq2seq": ("small", "base", "large", "en-de", "en-fr"),
          "vision": ("base-patch16", "tiny", "small", "large", "base"),
          "audio": ("small", "base", "large-v3", "tiny", "medium"),
          "diffusion": ("v1.5", "xl", "dev", "lora", "base"),
          "rl": ("ppo", "dqn", "a2c", "sac", "td3")}
# child name suffixes: finetune, adapter, quantized (transformers), merge, quantized to gguf, to mlx
_NAME_SUFFIXES = (("finetuned", "sft", "dpo", "instruct", "chat", "ft", "orpo", "tuned"),
                  ("lora", "qlora", "adapter", "peft"), ("AWQ", "GPTQ", "bnb-4bit", "8bit", "exl2"),
                  ("slerp", "ties", "dare-ties", "merge", "della", "model-stock"),
                  ("GGUF", "Q4_K_M-GGUF", "i1-GGUF"), ("mlx-4bit", "4bit-mlx", "mlx"))
_ARXIV = ("1910.09700", "2106.09685", "2305.14314", "1810.04805", "2307.09288", "2305.18290", "1910.10683",
          "2203.02155", "2212.04356", "2112.10752", "1907.11692")
_SYLLABLES = tuple(c + v for c in "bdfghklmnprstvz" for v in "aeiou")

# free-form tags: (tag, written in the card metadata, probability given the model context)
_FLAGS = (
    ("generated_from_trainer", True, lambda c: 0.55 * (c.rel == FINETUNE) * c.is_lib("transformers")),
    ("trl", True, lambda c: 0.3 * c.textgen * c.tuned),
    ("sft", True, lambda c: 0.2 * c.textgen * c.tuned),
    ("dpo", True, lambda c: 0.05 * c.textgen * c.tuned),
    ("unsloth", True, lambda c: 0.12 * c.textgen * c.tuned),
    ("lora", True, lambda c: 0.7 * (c.rel == ADAPTER)),
    ("mergekit", True, lambda c: 0.9 * (c.rel == MERGE)),
    ("merge", True, lambda c: 0.8 * (c.rel == MERGE)),
    ("llama-cpp", True, lambda c: 0.35 * c.is_lib("gguf")),
    ("gguf-my-repo", True, lambda c: 0.3 * c.is_lib("gguf")),
    ("stable-diffusion-diffusers", True, lambda c: 0.7 * (c.family == FAMILIES.index("diffusion"))),
    ("deep-reinforcement-learning", True, lambda c: 0.9 * (c.family == FAMILIES.index("rl"))),
    ("safetensors", False, lambda c: 0.75 * c.has_config),
    ("pytorch", False, lambda c: 0.3 * c.has_config),
    ("tensorboard", False, lambda c: 0.2 * (c.rel == FINETUNE)),
    ("conversational", False, lambda c: 0.45 * c.textgen),
    ("custom_code", False, lambda c: np.full(c.rel.size, 0.03)),
    ("autotrain_compatible", False, lambda c: 0.6 * c.is_lib("transformers")),
    ("text-generation-inference", False, lambda c: 0.5 * c.textgen * c.is_lib("transformers")),
    ("endpoints_compatible", False, lambda c: 0.7 * c.has_config),
    ("4-bit", False, lambda c: 0.5 * (c.rel == QUANTIZED) * c.is_lib("transformers")),
    ("bitsandbytes", False, lambda c: 0.4 * (c.rel == QUANTIZED) * c.is_lib("transformers")),
    ("imatrix", False, lambda c: 0.2 * c.is_lib("gguf")),
)

_SENTENCES = (
    "This model was trained on a curated mix of public data.",
    "It is intended for research purposes only.",
    "The model may produce inaccurate or biased outputs.",
    "We fine-tuned the base model for three epochs with a cosine learning-rate schedule.",
    "Evaluation results are reported on the held-out test split.",
    "The tokenizer is identical to the one of the base model.",
    "Use it with the pipeline API for quick experiments.",
    "Training took about twelve hours on a single GPU.",
    "We release the weights under the license stated above.",
    "Please cite our paper if you find this model useful.",
    "The training data was deduplicated and filtered for quality.",
    "It performs well on short inputs but degrades on long documents.",
    "Contributions and feedback are welcome in the community tab.",
    "The model follows instructions and supports multi-turn chat.",
    "We recommend a temperature of 0.7 for generation.",
    "Limitations include hallucinations and sensitivity to prompt wording.",
    "This checkpoint improves on the previous release in every benchmark we ran.",
    "The architecture is unchanged; only the weights differ.",
    "Mixed-precision training was used throughout.",
    "Outputs should be reviewed by a human before use in production.",
    "The evaluation harness and prompts are available in the repository.",
    "We thank the open-source community for the tools that made this work possible.",
    "Do not use this model for medical or legal advice.",
    "Inference runs comfortably on consumer hardware.",
)
_USAGE = ('\n\n## Usage\n\n```python\nfrom transformers import AutoModel\n\n'
          'model = AutoModel.from_pretrained("{id}")\n```\n')
_TEMPLATES = {
    "free": "# {name}\n\n{body}{usage}",
    "hub": (
        "# Model Card for {name}\n\n<!-- Provide a quick summary of what the model is/does. -->\n\n\n\n"
        "## Model Details\n\n### Model Description\n\n"
        "<!-- Provide a longer summary of what this model is. -->\n\n"
        "This is the model card of a \U0001f917 transformers model that has been pushed on the Hub. "
        "This model card has been automatically generated.\n\n"
        "- **Developed by:** [More Information Needed]\n- **Model type:** [More Information Needed]\n"
        "- **Language(s) (NLP):** [More Information Needed]\n- **License:** [More Information Needed]\n"
        "- **Finetuned from model [optional]:** [More Information Needed]\n\n"
        "## Uses\n\n### Direct Use\n\n[More Information Needed]\n\n"
        "## Bias, Risks, and Limitations\n\n[More Information Needed]\n\n"
        "## Environmental Impact\n\nCarbon emissions can be estimated using the "
        "[Machine Learning Impact calculator](https://mlco2.github.io/impact#compute) presented in "
        "[Lacoste et al. (2019)](https://arxiv.org/abs/1910.09700).\n"),
    "trainer": (
        "<!-- This model card has been generated automatically according to the information the Trainer "
        "had access to. You should probably proofread and complete it, then remove this comment. -->\n\n"
        "# {name}\n\nThis model is a fine-tuned version of [{parent}](https://huggingface.co/{parent}) "
        "on {data}.\nIt achieves the following results on the evaluation set:\n- Loss: {loss}\n\n"
        "## Model description\n\nMore information needed\n\n## Intended uses & limitations\n\n"
        "More information needed\n\n## Training and evaluation data\n\nMore information needed\n"),
    "quantized": (
        "# {name}\n\nThis repo contains quantized files of [{parent}](https://huggingface.co/{parent}).\n\n"
        "Quantization was done with llama.cpp; pick the file that fits your memory.\n"),
    "merge": (
        "# {name}\n\nThis is a merge of pre-trained language models created using "
        "[mergekit](https://github.com/cg123/mergekit).\n\n## Merge Details\n\n### Models Merged\n\n"
        "The following models were included in the merge:\n{parents}\n"),
}
# card kind probabilities per context (root, finetune, adapter, quantized, merge)
_CARD_KINDS = tuple(_TEMPLATES)
_CARD_KIND_P = np.array([[0.75, 0.25, 0, 0, 0], [0.25, 0.3, 0.45, 0, 0], [0.3, 0.5, 0.2, 0, 0],
                         [0.3, 0, 0, 0.7, 0], [0.2, 0, 0, 0, 0.8]])


@dataclass(frozen=True)
class TraitRates:
    """Per-generation change rates of one trait group.

    ``individual`` and ``shared`` scale the off-diagonal P[i, j] = rate * pi_j * C_ij * G_ij
    (so a state changes with probability about rate * (1 - pi_i)): ``individual`` for a
    child's own change, ``shared`` for the change a parent passes to the children that
    adopt it (directional scenario; the neutral ones change as often as its marginal).
    ``drop``: probability per generation that a declared value becomes undeclared (the
    reverse switch balances it at the base undeclared share).
    """

    individual: float
    shared: float = 0.0
    drop: float = 0.0


@dataclass(frozen=True)
class SimParams:
    """Every tunable of the simulator; the defaults reproduce the Hub snapshot of the paper."""

    # topology
    root_rate: float = 0.715                 # P(model is a new base model)
    uniform_parent: float = 0.4              # copy trick: P(parent uniform among earlier models)
    relation_probs: tuple = (0.35, 0.29, 0.29, 0.07)  # finetune, adapter, quantized, merge
    merge_parent_probs: tuple = (0.6, 0.25, 0.15)     # a merge has 2, 3, 4 parents
    merge_same_family: float = 0.5           # extra merge parent drawn from the same family
    # traits
    sibling_shared_rate: float = 0.85        # P(child adopts its parent's shared change)
    directional_bias: float = 2.5            # G for favoured changes (1/G back)
    copier_share: float = 0.6                # heterogeneous: P(a parent is a copier, else an editor)
    copier_rate: float = 0.02                # ... change probability per generation of a copier's children
    editor_rate: float = 0.5                 # ... of an editor's children
    relation_rate_scale: tuple = (1.0, 0.5, 0.05, 3.0)  # relations: rate factor of finetune, adapter,
    #                                          quantized, merge edges (capped so that rows stay stochastic)
    license: TraitRates = TraitRates(0.04, 0.155, 0.1)
    language: TraitRates = TraitRates(0.05, 0.18, 0.12)
    task: TraitRates = TraitRates(0.2, 0.95)
    architecture: TraitRates = TraitRates(0.01)
    dataset: TraitRates = TraitRates(0.4, 0.4, 0.3)
    license_undeclared: float = 0.52         # base share of models declaring no license
    language_undeclared: float = 0.83        # ... no language (text and speech families)
    language_undeclared_other: float = 0.97  # ... no language (vision, diffusion, rl)
    dataset_undeclared: float = 0.8          # ... no dataset
    # dirt
    hide_license: float = 0.03               # declared license removed from tags and cardData
    hide_language: float = 0.03
    hide_task: float = 0.08                  # pipeline_tag removed
    deleted_rate: float = 0.01               # models deleted (as a share of the listing)
    url_parent_rate: float = 0.02            # cardData base_model written as a URL
    space_parent_rate: float = 0.01          # ... padded with whitespace
    self_ref_rate: float = 0.002             # models declaring themselves as parent
    cycle_rate: float = 0.0005               # models declaring one of their children as parent
    # emission
    card_rate_root: float = 0.34             # P(model card text) for roots
    card_rate_child: float = 0.24            # ... for children
    card_flip: float = 0.1                   # neutral scenarios: P(child flips card presence, kind; steps length)
    relation_in_card: float = 0.35           # P(cardData states base_model_relation)
    free_tag_vocabulary: float = 0.2         # distinct long-tail free tags per model (real: 445 / 2,000)
    free_tag_zipf: float = 1.1               # their popularity: P(rank r) ~ r^-zipf
    free_tags_new: float = 0.3               # mean tags a model picks by popularity (Poisson)
    free_tag_inherit: float = 0.6            # P(child keeps each of its parent's free tags)
    authors_per_model: float = 0.25          # synthetic user handles per model
    n_words: int = 3000                      # vocabulary of model-name words
    start: str = "2019-01-01"
    end: str = "2025-07-01"
    growth: float = 5.0                      # exponential growth of the Hub over [start, end]

    def __post_init__(self):
        for name, size in (("relation_probs", 4), ("merge_parent_probs", 3)):
            p = np.asarray(getattr(self, name), float)
            if p.size != size or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
                raise ValueError(f"SimParams.{name} must be {size} non-negative probabilities summing to 1")
        scale = np.asarray(self.relation_rate_scale, float)
        if scale.shape != (4,) or not (np.isfinite(scale) & (scale >= 0)).all():
            raise ValueError("SimParams.relation_rate_scale must be 4 non-negative numbers (finetune, adapter, "
                             f"quantized, merge), got {self.relation_rate_scale}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, TraitRates) and min(asdict(value).values()) < 0:
                raise ValueError(f"SimParams.{f.name} rates must be non-negative, got {value}")
            if f.type == "float" and f.name not in ("directional_bias", "growth", "free_tag_zipf") \
                    and not 0 <= value <= 1:
                raise ValueError(f"SimParams.{f.name} must lie in [0, 1], got {value}")
        if self.directional_bias < 1 or self.growth <= 0 or self.n_words < 1 or self.free_tag_zipf < 0:
            raise ValueError("SimParams needs directional_bias >= 1, growth > 0, n_words >= 1 and "
                             "free_tag_zipf >= 0")


@dataclass
class Simulation:
    """A simulated snapshot: the listing table and its JSON-serialisable ground truth."""

    listing: pa.Table
    truth: dict = field(repr=False)


# ----------------------------------------------------------------------------- helpers

def _draw(prob: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One categorical draw per element from row ``rows[i]`` of ``prob``, using uniforms ``u``."""
    cum = np.cumsum(prob, axis=1)
    cum /= cum[:, -1:]
    k = prob.shape[1]
    flat = (cum + np.arange(len(prob))[:, None]).ravel()
    return np.minimum(np.searchsorted(flat, rows + u, side="right") - rows * k, k - 1)


def _ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of ``range(s, s + l)`` for each (start, length)."""
    ends = np.cumsum(lengths)
    return np.arange(ends[-1] if ends.size else 0) + np.repeat(starts - ends + lengths, lengths)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _lookup(strings, codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """``strings[codes]`` as an Arrow string array, null where not ``valid``."""
    return pa.array(strings, pa.string()).take(pa.array(codes, pa.int64(), mask=None if valid is None else ~valid))


def _join(*parts, sep: str = "") -> pa.Array:
    return pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in parts], sep)


def _lists(lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    return pa.ListArray.from_arrays(pa.array(_offsets(lengths), pa.int32()), values)


def _render(template: str, fields: dict[str, pa.Array]) -> pa.Array:
    """Fill ``{field}`` placeholders with aligned Arrow string arrays."""
    parts = []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts += [literal] + ([fields[name]] if name else [])
    return _join(*parts)


def _scatter(n: int, pieces) -> pa.Array:
    """Length-``n`` string array with ``array`` at ``indices`` for each (indices, array) piece, null elsewhere.

    ``pieces`` may be a generator: each array is released once concatenated.
    """
    indices, arrays = zip(*pieces)
    pos = np.full(n, -1, np.int64)
    pos[np.concatenate(indices)] = np.arange(sum(map(len, indices)))
    values = pa.concat_arrays(arrays)
    del arrays
    return values.take(pa.array(pos, mask=pos < 0))


# ----------------------------------------------------------------------------- topology

@dataclass
class _Topology:
    parent: np.ndarray      # primary parent, -1 for roots
    relation: np.ndarray    # relation code to the parents, -1 for roots
    depth: np.ndarray
    root_of: np.ndarray     # family root
    levels: list            # model indices per depth
    edge_child: np.ndarray  # all true edges, sorted by child then slot (primary first)
    edge_parent: np.ndarray


def _attach(rng, kids: np.ndarray, uniform: float) -> np.ndarray:
    """Preferential-attachment parents of ``kids`` (sorted) by the Simon/Yule copy trick."""
    rank = np.arange(kids.size)
    direct = (rng.random(kids.size) < uniform) | (rank == 0)
    target = np.where(direct, rng.random(kids.size) * kids, rng.random(kids.size) * rank).astype(np.int64)
    pending = np.flatnonzero(~direct)
    while pending.size:  # pointer jumping: a copy points at an earlier child's target
        t = target[pending]
        target[pending] = target[t]
        direct[pending] = direct[t]
        pending = pending[~direct[pending]]
    return target


def _depth(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Depth and family root of every model by pointer jumping (list ranking)."""
    anc = np.where(parent < 0, np.arange(parent.size), parent)
    depth = (parent >= 0).astype(np.int64)
    act = np.flatnonzero(parent[anc] >= 0)
    while act.size:
        a = anc[act]
        depth[act] += depth[a]
        anc[act] = anc[a]
        act = act[parent[anc[act]] >= 0]
    return depth, anc


def _merge_parents(rng, parent, root_of, kids, merges, prm) -> tuple[np.ndarray, np.ndarray]:
    """Extra parents of merges (slot 1..3): earlier family members or attachment draws."""
    child = np.repeat(merges, 1 + rng.choice(3, merges.size, p=prm.merge_parent_probs))
    order = np.lexsort((np.arange(parent.size), root_of))
    pos = np.empty_like(order)
    pos[order] = np.arange(order.size)
    first = np.searchsorted(root_of[order], root_of[child])
    same_family = order[first + (rng.random(child.size) * (pos[child] - first)).astype(np.int64)]
    rank = np.searchsorted(kids, child)
    uniform = (rng.random(child.size) < prm.uniform_parent) | (rank == 0)
    copied = parent[kids[(rng.random(child.size) * rank).astype(np.int64)]]
    anywhere = np.where(uniform, (rng.random(child.size) * child).astype(np.int64), copied)
    return child, np.where(rng.random(child.size) < prm.merge_same_family, same_family, anywhere)


def _topology(rng, n: int, prm: SimParams) -> _Topology:
    """Roots, primary parents, relations, merge parents, depths and families of ``n`` models."""
    is_root = rng.random(n) < prm.root_rate
    is_root[0] = True
    kids = np.flatnonzero(~is_root)
    parent = np.full(n, -1, np.int64)
    parent[kids] = _attach(rng, kids, prm.uniform_parent)
    relation = np.full(n, -1, np.int64)
    relation[kids] = rng.choice(len(RELATIONS), kids.size, p=prm.relation_probs)
    relation[(relation == MERGE) & (np.arange(n) < 2)] = FINETUNE
    depth, root_of = _depth(parent)
    xc, xp = _merge_parents(rng, parent, root_of, kids, np.flatnonzero(relation == MERGE), prm)
    child = np.concatenate([kids, xc])
    par = np.concatenate([parent[kids], xp])
    slot = np.concatenate([np.zeros(kids.size, np.int64), np.ones(xc.size, np.int64)])
    order = np.lexsort((slot, par, child))  # drop repeated parents, keeping the primary
    child, par, slot = child[order], par[order], slot[order]
    keep = np.ones(child.size, bool)
    keep[1:] = (child[1:] != child[:-1]) | (par[1:] != par[:-1])
    child, par, slot = child[keep], par[keep], slot[keep]
    order = np.lexsort((slot, child))
    child, par = child[order], par[order]
    relation[(relation == MERGE) & (np.bincount(child, minlength=n) < 2)] = FINETUNE
    levels = np.split(np.argsort(depth, kind="stable"), np.cumsum(np.bincount(depth))[:-1])
    return _Topology(parent, relation, depth, root_of, levels, child, par)


# ----------------------------------------------------------------------------- traits

@dataclass(frozen=True)
class _Trait:
    name: str
    labels: list            # JSON labels of the states; state 0 is "undeclared" when has_none
    root_p: np.ndarray      # (contexts, K) root distribution per context (family or single)
    compat: np.ndarray      # (K, K) symmetric 0/1: changes allowed
    toward: np.ndarray      # (K, K) bool: favoured changes in the directional scenario
    has_none: bool
    founder: np.ndarray | None = None  # (K,) bool: the states every root declares in the founder scenarios


def _family_weights() -> np.ndarray:
    w = np.bincount(_ARCH_FAMILY, [a[4] for a in ARCHITECTURES], len(FAMILIES))
    return w / w.sum()


def _with_none(declared: np.ndarray, none_share) -> np.ndarray:
    """Prepend an undeclared column: rows of ``declared`` weights scaled to ``1 - none_share``."""
    declared = declared / declared.sum(axis=-1, keepdims=True)
    none_share = np.broadcast_to(np.asarray(none_share, float).reshape(-1, 1), (len(declared), 1))
    return np.hstack([none_share, (1 - none_share) * declared])


def _architecture_trait(prm: SimParams) -> _Trait:
    fam = _ARCH_FAMILY
    return _Trait("architecture", [a[0] for a in ARCHITECTURES], np.array([[a[4] for a in ARCHITECTURES]]),
                  (fam[:, None] == fam[None, :]).astype(float), np.zeros((fam.size,) * 2, bool), False)


def _task_trait(prm: SimParams) -> _Trait:
    """Roots draw from their family's task mix; tasks that share a family may replace each other."""
    mix = np.array([[TASK_MIX[f].get(t, 0.0) for t in TASKS] for f in FAMILIES])
    support = (mix > 0).astype(float)
    return _Trait("task", list(TASKS), mix, np.minimum(support.T @ support, 1),
                  np.zeros((len(TASKS),) * 2, bool), False)


def _license_trait(prm: SimParams) -> _Trait:
    """Favoured: restrictive/commercial -> permissive or copyleft."""
    klass = np.array(["none"] + [c for _, c, _ in LICENSES])
    favoured = (klass == "permissive") | (klass == "copyleft")
    return _Trait("license", [None] + [name for name, _, _ in LICENSES],
                  _with_none(np.array([[w for _, _, w in LICENSES]]), prm.license_undeclared),
                  np.ones((klass.size,) * 2), (klass == "restrictive")[:, None] & favoured[None, :], True,
                  klass == "restrictive")


def _language_trait(prm: SimParams) -> _Trait:
    """Favoured: multilingual (or several languages) -> English only."""
    sets = [codes for codes, _ in LANGUAGE_SETS]
    multi = np.array([False] + [len(c) > 1 or "multilingual" in c for c in sets])
    english = np.array([False] + [c == ("en",) for c in sets])
    none_share = np.where(_SPOKEN, prm.language_undeclared, prm.language_undeclared_other)
    weights = np.tile([w for _, w in LANGUAGE_SETS], (len(FAMILIES), 1))
    return _Trait("language", [[]] + [list(c) for c in sets], _with_none(weights, none_share),
                  np.ones((multi.size,) * 2), multi[:, None] & english[None, :], True, multi)


def _dataset_trait(prm: SimParams) -> _Trait:
    """Datasets of the family's modality; a dataset is replaced only by one of the same modality."""
    modality = np.array([m for _, m, _ in DATASETS])
    weights = np.array([w for _, _, w in DATASETS]) * (np.array(_FAMILY_MODALITY)[:, None] == modality)
    has_data = weights.sum(1) > 0
    root = np.zeros((len(FAMILIES), modality.size + 1))
    root[~has_data, 0] = 1
    root[has_data] = _with_none(weights[has_data], prm.dataset_undeclared)
    compat = np.ones((modality.size + 1,) * 2)
    compat[1:, 1:] = modality[:, None] == modality[None, :]
    return _Trait("dataset", [None] + [d for d, _, _ in DATASETS], root, compat, np.zeros_like(compat, bool), True)


_TRAITS = (_architecture_trait, _task_trait, _license_trait, _language_trait, _dataset_trait)


def _base_distribution(trait: _Trait) -> np.ndarray:
    return trait.root_p[0] if len(trait.root_p) == 1 else _family_weights() @ (
        trait.root_p / trait.root_p.sum(1, keepdims=True))


def _transition(trait: _Trait, rate: float, drop: float, bias: float) -> np.ndarray:
    """Per-generation transition matrix (see the module docstring)."""
    pi = _base_distribution(trait)
    d = 1 if trait.has_none else 0
    pd = pi[d:] / pi[d:].sum()
    g = bias ** (trait.toward.astype(float) - trait.toward.T)
    r = np.zeros((pi.size, pi.size))
    r[d:, d:] = rate * pd[None, :] * (trait.compat * g)[d:, d:]
    if trait.has_none:
        r[1:, 0] = drop
        r[0, 1:] = drop * (1 - pi[0]) / pi[0] * pd
    np.fill_diagonal(r, 0)
    if r.sum(1).max() > 1:
        raise ValueError(f"{trait.name} rates too high: a row of the transition matrix exceeds 1")
    np.fill_diagonal(r, 1 - r.sum(1))
    return r


def _mutation(trait: _Trait, rates: TraitRates, scenario: str, prm: SimParams) -> dict:
    s = prm.sibling_shared_rate
    if scenario == "neutral":
        return {"P": _transition(trait, s * rates.shared + (1 - s) * rates.individual, rates.drop, 1.0)}
    ind = _transition(trait, rates.individual, rates.drop, prm.directional_bias)
    shared = _transition(trait, rates.shared, rates.drop, prm.directional_bias)
    return {"P": s * shared + (1 - s) * ind, "P_individual": ind, "P_shared": shared}


def _symmetric(trait: _Trait, change: float) -> np.ndarray:
    """Symmetric per-generation matrix of the declared values: off the diagonal P[i, j] = c C_ij, with
    one c per call such that a value drawn from the base distribution changes with probability
    ``change`` (capped where a row would exceed 1). The undeclared state, if any, keeps the identity's
    row and column: whether a model declares is a chain of its own (see :func:`_evolve_neutral`)."""
    d = int(trait.has_none)
    pd = _base_distribution(trait)[d:]
    c = trait.compat[d:, d:].copy()
    np.fill_diagonal(c, 0)
    degree = c.sum(1)
    scale = min(change / (pd @ degree / pd.sum()), 1 / max(degree.max(), 1))
    p = np.eye(len(trait.labels))
    p[d:, d:] = scale * c + np.diag(1 - scale * degree)
    return p


def _neutral_mutation(trait: _Trait, rates: TraitRates, extras: tuple, prm: SimParams) -> dict:
    """Matrices of the neutral scenarios, one per (parent class, relation) case, and the declare switches.

    The change probability is the old neutral (F81) chain's at the base distribution, or the copier's
    and editor's (heterogeneous), times the relation's factor (relations)."""
    s = prm.sibling_shared_rate
    f81 = _transition(trait, s * rates.shared + (1 - s) * rates.individual, rates.drop, 1.0)
    d = int(trait.has_none)
    pd = _base_distribution(trait)[d:]
    change = 1 - np.diag(f81)[d:] - (f81[d:, 0] if d else 0)
    classes, base = ("any",), [pd @ change / pd.sum()]
    if "heterogeneous" in extras:
        classes, base = ("copier", "editor"), [prm.copier_rate, prm.editor_rate]
    relations = RELATIONS if "relations" in extras else ("any",)
    scale = prm.relation_rate_scale if "relations" in extras else (1.0,)
    out = {"P_by": {f"{c}/{r}": _symmetric(trait, b * f)
                    for c, b in zip(classes, base) for r, f in zip(relations, scale)}}
    if len(out["P_by"]) == 1:
        out = {"P": out["P_by"].popitem()[1]}
    if trait.has_none:
        undeclared = _base_distribution(trait)[0]
        out["declared"] = {"drop": rates.drop, "redeclare": float(rates.drop * (1 - undeclared) / undeclared)}
    return out


def _evolve_neutral(rng, trait: _Trait, mats: dict, case: np.ndarray, topo: _Topology, context: np.ndarray,
                    founder: bool) -> np.ndarray:
    """Roots draw a value from the base distribution of declared values (founder: of the founder
    states only, all declared), and whether they declare it from the base undeclared share; children
    mutate the value with the matrix of their ``case`` (parent class, relation) and inherit the
    declared flag, switching at the ``declared`` rates. A model that re-declares shows its value."""
    d = int(trait.has_none)
    founder = founder and trait.founder is not None
    stack = np.stack(list(mats["P_by"].values())) if "P_by" in mats else mats["P"][None]
    k = stack.shape[1]
    value = np.empty(topo.parent.size, np.int64)
    roots = topo.levels[0]
    rows = context[roots] if len(trait.root_p) > 1 else np.zeros(roots.size, np.int64)
    declared_p = trait.root_p[:, d:] * (trait.founder[d:] if founder else 1)
    empty = declared_p.sum(1) == 0                                       # no declared value in this context
    declared_p[empty] = _base_distribution(trait)[d:]
    value[roots] = d + _draw(declared_p, rows, rng.random(roots.size))
    shown = np.ones(topo.parent.size, bool)
    if d and not founder:
        shown[roots] = rng.random(roots.size) >= (trait.root_p[:, 0] / trait.root_p.sum(1))[rows]
    for nodes in topo.levels[1:]:
        par = topo.parent[nodes]
        value[nodes] = _draw(stack.reshape(-1, k), case[nodes] * k + value[par], rng.random(nodes.size))
        if d:
            u = rng.random(nodes.size)
            shown[nodes] = np.where(shown[par], u >= mats["declared"]["drop"], u < mats["declared"]["redeclare"])
    return np.where(shown, value, 0)


def _evolve(rng, trait: _Trait, mats: dict, topo: _Topology, context: np.ndarray, s: float) -> np.ndarray:
    """Draw roots from their base distribution, then mutate level by level."""
    state = np.empty(topo.parent.size, np.int64)
    roots = topo.levels[0]
    rows = context[roots] if len(trait.root_p) > 1 else np.zeros(roots.size, np.int64)
    state[roots] = _draw(trait.root_p, rows, rng.random(roots.size))
    shared_u = rng.random(topo.parent.size) if "P_shared" in mats else None
    for nodes in topo.levels[1:]:
        pa_ = topo.parent[nodes]
        x = state[pa_]
        y = _draw(mats.get("P_individual", mats["P"]), x, rng.random(nodes.size))
        if shared_u is not None:  # the parent's one shared change, adopted by some children
            y = np.where(rng.random(nodes.size) < s, _draw(mats["P_shared"], x, shared_u[pa_]), y)
        state[nodes] = y
    return state


def _listed(tree):
    """Arrays of a (nested) dict as lists, for JSON."""
    return {k: _listed(v) if isinstance(v, dict) else v.tolist() if isinstance(v, np.ndarray) else v
            for k, v in tree.items()}


def _library(rng, arch: np.ndarray, task: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """Library code (-1 = none) from architecture, task and relation."""
    u = rng.random(arch.size)
    lib = _ARCH_LIBRARY[arch].copy()
    family = _ARCH_FAMILY[arch]
    embeds = np.isin(task, [TASKS.index("feature-extraction"), TASKS.index("sentence-similarity")])
    lib[(family == FAMILIES.index("encoder")) & embeds & (u < 0.7)] = _LIB["sentence-transformers"]
    lib[(rel == ADAPTER) & (family != FAMILIES.index("diffusion"))] = _LIB["peft"]
    quant = (rel == QUANTIZED) & (u < 0.8)
    lib[quant] = np.where(u[quant] < 0.7, _LIB["gguf"], _LIB["mlx"])
    lib[(rel != ADAPTER) & (rel != QUANTIZED) & (rng.random(arch.size) < 0.03)] = -1
    return lib


def _cases(topo: _Topology, extras: tuple, editor: np.ndarray) -> np.ndarray:
    """Case of the edge above every node in the neutral scenarios: parent class (copier 0, editor 1;
    heterogeneous) x relation type (relations), in the order of ``_neutral_mutation``'s ``P_by``."""
    klass = (editor[np.maximum(topo.parent, 0)] & ("heterogeneous" in extras)).astype(np.int64)
    if "relations" not in extras:
        return klass
    return klass * len(RELATIONS) + np.maximum(topo.relation, 0)


def _traits(rng, topo: _Topology, scenario: str, prm: SimParams, editor: np.ndarray) -> tuple[dict, dict]:
    """State codes of every trait group (plus the derived library) and the matrices that drew them;
    ``editor``: the parent class of every model (heterogeneous scenarios, else all False)."""
    states, mutation = {}, {}
    context = None  # the roots' architecture family, once drawn
    extras = _NEUTRAL.get(scenario)
    case = None if extras is None else _cases(topo, extras, editor)
    for trait in (build(prm) for build in _TRAITS):
        rates = getattr(prm, trait.name)
        if extras is None:
            mats = _mutation(trait, rates, scenario, prm)
            states[trait.name] = _evolve(rng, trait, mats, topo, context, prm.sibling_shared_rate)
        else:
            mats = _neutral_mutation(trait, rates, extras, prm)
            states[trait.name] = _evolve_neutral(rng, trait, mats, case, topo, context, "founder" in extras)
        mutation[trait.name] = {"states": trait.labels, **_listed(mats)}
        if trait.name == "architecture":
            context = _ARCH_FAMILY[states["architecture"]]
    states["library"] = _library(rng, states["architecture"], states["task"], topo.relation)
    return states, mutation


# ----------------------------------------------------------------------------- dirt

@dataclass
class _Dirt:
    keep: np.ndarray          # listed models (the rest are deleted)
    hidden: dict              # field -> bool mask of hidden declared values
    edge_child: np.ndarray    # declared edges of listed children, by child, true parents first
    edge_parent: np.ndarray
    edge_form: np.ndarray     # cardData spelling: 0 plain, 1 URL, 2 padded with spaces


def _dirt(rng, topo: _Topology, states: dict, prm: SimParams, n_deleted: int) -> _Dirt:
    """Deleted parents, hidden fields and the declared (corrupted) parent lists."""
    n = topo.parent.size
    has_kids = np.flatnonzero(np.bincount(topo.edge_parent, minlength=n) > 0)
    pool = has_kids if has_kids.size >= n_deleted else np.arange(n)
    keep = np.ones(n, bool)
    keep[rng.choice(pool, n_deleted, replace=False)] = False
    hidden = {"license": (states["license"] > 0) & (rng.random(n) < prm.hide_license),
              "languages": (states["language"] > 0) & (rng.random(n) < prm.hide_language),
              "pipeline_tag": rng.random(n) < prm.hide_task}
    listed = np.flatnonzero(keep)
    selfs = listed[rng.random(listed.size) < prm.self_ref_rate]
    linked = keep & (topo.parent >= 0) & keep[np.maximum(topo.parent, 0)]
    cycles = np.flatnonzero(linked & (rng.random(n) < prm.cycle_rate))  # parent declares this child
    true = keep[topo.edge_child]
    child = np.concatenate([topo.edge_child[true], selfs, topo.parent[cycles]])
    parent = np.concatenate([topo.edge_parent[true], selfs, cycles])
    order = np.argsort(child, kind="stable")
    cut = np.searchsorted([prm.url_parent_rate, prm.url_parent_rate + prm.space_parent_rate],
                          rng.random(child.size), side="right")  # 0 URL, 1 spaces, 2 plain
    return _Dirt(keep, hidden, child[order], parent[order], (cut + 1) % 3)


# ----------------------------------------------------------------------------- names, dates, popularity

def _words(rng, count: int) -> pa.Array:
    """``count`` pronounceable words of two or three syllables."""
    syl = pa.array(_SYLLABLES)
    codes = rng.integers(0, len(_SYLLABLES), (3, count))
    third = pc.if_else(pa.array(rng.random(count) < 0.5), syl.take(codes[2]), "")
    return _join(syl.take(codes[0]), syl.take(codes[1]), third)


def _handles(rng, count: int) -> pa.Array:
    """``count`` distinct user handles (mixed-radix syllable codes)."""
    k = len(_SYLLABLES)
    code = rng.choice(10 * k ** 3, count, replace=False)
    syl = pa.array(_SYLLABLES)
    digits = pc.if_else(pa.array(code < k ** 3), "", pc.cast(pa.array(code // k ** 3), pa.string()))
    return _join(*[syl.take(code // k ** i % k) for i in range(3)], digits)


def _pick(rng, table: tuple, rows: np.ndarray) -> np.ndarray:
    """Uniform index into the flattened ``table`` of tuples, within tuple ``rows[i]``."""
    sizes = np.array([len(t) for t in table])
    return _offsets(sizes)[rows] + (rng.random(rows.size) * sizes[rows]).astype(np.int64)


def _dedup_suffix(keys: pa.Array) -> pa.Array:
    """``""`` for the first occurrence of each key, then ``-2``, ``-3``, ..."""
    codes = keys.dictionary_encode().indices.to_numpy()
    order = np.argsort(codes, kind="stable")
    first = np.r_[True, codes[order][1:] != codes[order][:-1]]
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size) - np.maximum.accumulate(np.where(first, np.arange(order.size), 0))
    return pc.if_else(pa.array(rank > 0), _join("-", pc.cast(pa.array(rank + 1), pa.string())), "")


def _identity(rng, topo: _Topology, states: dict, prm: SimParams) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Model ids, names and authors: families share a name stem, quantizations extend the parent's."""
    n = topo.parent.size
    rel = topo.relation
    is_root, quant = rel < 0, rel == QUANTIZED
    words = _words(rng, prm.n_words)
    word = lambda: words.take(rng.integers(0, prm.n_words, n))  # noqa: E731
    family = _ARCH_FAMILY[states["architecture"]]
    sizes = tuple(_SIZES[f] for f in FAMILIES)
    root_name = _join(word(), _lookup([a[0] for a in ARCHITECTURES], states["architecture"]),
                      _lookup(sum(sizes, ()), _pick(rng, sizes, family)), sep="-")
    stem = root_name.take(topo.root_of)
    quant_kind = quant * ((states["library"] == _LIB["gguf"]) + 2 * (states["library"] == _LIB["mlx"]))
    suffix_row = np.where(quant & (quant_kind > 0), 3 + quant_kind, np.maximum(rel, 0))
    suffix = _lookup(sum(_NAME_SUFFIXES, ()), _pick(rng, _NAME_SUFFIXES, suffix_row))
    name = pc.if_else(pa.array(is_root), root_name, _join(stem, suffix, word(), sep="-"))
    base = pc.if_else(pa.array(quant), stem, name)
    name = pc.if_else(pa.array(quant), _join(base.take(np.maximum(topo.parent, 0)), suffix, sep="-"), name)

    n_handles = max(64, int(prm.authors_per_model * n))
    weight = (np.arange(n_handles) + 3.0) ** -0.9
    author = rng.choice(n_handles, n, p=weight / weight.sum())
    named = _ORGS + _QUANTIZERS
    big = is_root & (np.bincount(topo.edge_parent, minlength=n) >= 20)
    author[big] = n_handles + _pick(rng, named, family[big])
    quantizer = quant & (rng.random(n) < 0.5)
    author[quantizer] = n_handles + _pick(rng, named, len(_ORGS) + quant_kind[quantizer])
    authors = pa.concat_arrays([_handles(rng, n_handles), pa.array(sum(named, ()))]).take(author)
    # generated names never end in "-<digits>", so numbering the repeats makes them unique
    name = _join(name, _dedup_suffix(_join(authors, name, sep="/")))
    return _join(authors, name, sep="/"), name, authors


def _times(rng, n: int, prm: SimParams) -> tuple[np.ndarray, np.ndarray]:
    """Strictly increasing createdAt (ms) on an exponential growth curve, and lastModified."""
    start, end = (np.datetime64(d, "ms").astype(np.int64) for d in (prm.start, prm.end))
    frac = np.log1p(np.sort(rng.random(n)) * np.expm1(prm.growth)) / prm.growth
    created = start + (frac * (end - start)).astype(np.int64)
    created = np.maximum.accumulate(created - np.arange(n)) + np.arange(n)
    delay = (rng.exponential(30 * 86_400_000, n) * (rng.random(n) < 0.7)).astype(np.int64)
    return created, np.maximum(np.minimum(created + delay, end), created)


def _popularity(rng, n_children: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Heavy-tailed downloads (boosted by the number of children) and correlated likes."""
    n = n_children.size
    log_downloads = rng.normal(1.0, 2.6, n) + 1.3 * np.log1p(n_children)
    downloads = np.floor(np.expm1(np.clip(log_downloads, 0, 20))).astype(np.int64)
    likes = rng.poisson(np.exp(0.62 * np.log1p(downloads) + rng.normal(-3.2, 1.1, n)))
    return downloads, likes.astype(np.int64)


# ----------------------------------------------------------------------------- listing

_BLOCK = 1 << 18  # listing rows emitted per record batch (bounds the memory of string building)


def _flags(rng, b: SimpleNamespace) -> np.ndarray:
    """(rows, len(_FLAGS)) bool matrix of free-form tags."""
    family = _ARCH_FAMILY[b.arch]
    ctx = SimpleNamespace(rel=b.rel, family=family, has_config=b.has_config,
                          textgen=b.task == TASKS.index("text-generation"),
                          tuned=(b.rel == FINETUNE) | (b.rel == ADAPTER), is_lib=lambda name: b.lib == _LIB[name])
    return np.column_stack([rng.random(b.rel.size) < p(ctx) for _, _, p in _FLAGS])


def _free_tags(rng, topo: _Topology, prm: SimParams) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """Long-tailed free-form tags: a vocabulary of ``free_tag_vocabulary`` tags per model with
    Zipf-like popularity; each tag is coined by one model, every model picks a Poisson number
    (``free_tags_new``) more by popularity, and a child keeps each of its primary parent's
    with probability ``free_tag_inherit``. Returns (offsets, tag codes) per model and the tag
    names (code order: most popular first)."""
    n = topo.parent.size
    v = max(1, int(round(prm.free_tag_vocabulary * n)))
    cum = np.cumsum(np.arange(1.0, v + 1) ** -prm.free_tag_zipf)
    picks = rng.poisson(prm.free_tags_new, n)
    node = np.r_[rng.integers(0, n, v), np.repeat(np.arange(n), picks)]
    tag = np.r_[np.arange(v), np.minimum(np.searchsorted(cum / cum[-1], rng.random(picks.sum()), "right"), v - 1)]
    own = np.argsort(node, kind="stable")
    node, tag = node[own], tag[own]
    own_lo, own_hi = np.searchsorted(node, np.arange(n)), np.searchsorted(node, np.arange(n), "right")
    done, prev_node, prev_tag = [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    for level in topo.levels:
        par = topo.parent[level]
        lo, hi = np.searchsorted(prev_node, par), np.searchsorted(prev_node, par, "right")
        lo, hi = np.where(par >= 0, lo, 0), np.where(par >= 0, hi, 0)
        kept = rng.random((hi - lo).sum()) < prm.free_tag_inherit
        mine = _ragged_index(own_lo[level], own_hi[level] - own_lo[level])
        key = np.sort(np.r_[(np.repeat(level, hi - lo) * v + prev_tag[_ragged_index(lo, hi - lo)])[kept],
                            node[mine] * v + tag[mine]])
        key = key[np.r_[True, key[1:] != key[:-1]]] if key.size else key
        prev_node, prev_tag = np.divmod(key, v)
        done.append(key)
    key = np.sort(np.concatenate(done))
    base = len(_SYLLABLES)
    digits = max(3, int(np.ceil(np.log(v) / np.log(base))))              # 6+ letters: never a language code
    names = _join(*(_lookup(_SYLLABLES, np.arange(v) // base ** d % base) for d in range(digits)))
    return _offsets(np.bincount(key // v, minlength=n)), key % v, names


class _Tags:
    """Tag vocabulary: static strings by group; ``base_model`` strings are appended per batch."""

    def __init__(self):
        codes = sorted({c for cs, _ in LANGUAGE_SETS for c in cs})
        groups = {"library": LIBRARIES, "arch": [a[0] for a in ARCHITECTURES], "task": TASKS,
                  "lang": codes, "license": [f"license:{x}" for x, _, _ in LICENSES],
                  "dataset": [f"dataset:{x}" for x, _, _ in DATASETS], "arxiv": [f"arxiv:{x}" for x in _ARXIV],
                  "flag": [t for t, _, _ in _FLAGS], "region": ["region:us"]}
        self.strings, self.base = [], {}
        for group, values in groups.items():
            self.base[group] = len(self.strings)
            self.strings += list(values)
        lang = [[codes.index(c) for c in cs] for cs, _ in LANGUAGE_SETS]
        self.lang_offsets = _offsets(np.array([0] + [len(x) for x in lang]))
        self.lang_values = self.base["lang"] + np.array(sum(lang, []), np.int64)

    def single(self, group: str, codes: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return valid.astype(np.int64), self.base[group] + codes[valid]

    def languages(self, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.diff(self.lang_offsets)[state]
        return lengths, self.lang_values[_ragged_index(self.lang_offsets[state], lengths)]

    def flags(self, mask: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(mask[:, columns])
        return np.bincount(rows, minlength=mask.shape[0]), self.base["flag"] + columns[cols]


def _interleave(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-row concatenation of ragged components given as (lengths, values in row order)."""
    lengths = np.stack([length for length, _ in parts])
    offsets = _offsets(lengths.sum(0))
    starts = offsets[:-1] + np.cumsum(lengths, 0) - lengths
    out = np.empty(offsets[-1], np.int64)
    for (length, values), start in zip(parts, starts):
        out[_ragged_index(start, length)] = values
    return lengths.sum(0), out


def _tags(rng, g: SimpleNamespace, b: SimpleNamespace, flags: np.ndarray, kind: np.ndarray) -> pa.ListArray:
    """Hub tags: library, architecture, card tags, task, languages, dataset, arxiv, base_model, license, auto tags."""
    m, e, vocab = b.rel.size, b.edge_parent.size, g.vocab
    in_card = np.array([c for _, c, _ in _FLAGS])
    hub_card = kind == _CARD_KINDS.index("hub")  # the Hub template cites arXiv:1910.09700 (_ARXIV[0])
    parts = [
        vocab.single("library", np.maximum(b.lib, 0), b.lib >= 0),
        vocab.single("arch", b.arch, np.ones(m, bool)),
        vocab.flags(flags, np.flatnonzero(in_card)),
        vocab.single("task", b.task, ~b.hide_task),
        vocab.languages(np.where(b.hide_languages, 0, b.language)),
        vocab.single("dataset", b.dataset - 1, b.dataset > 0),
        vocab.single("arxiv", np.where(hub_card, 0, rng.integers(1, len(_ARXIV), m)),
                     hub_card | (rng.random(m) < 0.04)),
        (np.diff(g.free_offsets)[b.rows], len(vocab.strings) + g.free_codes[
            _ragged_index(g.free_offsets[b.rows], np.diff(g.free_offsets)[b.rows])]),
        (2 * b.n_parents, len(vocab.strings) + len(g.free_names)
         + np.column_stack([np.arange(e), e + np.arange(e)]).ravel()),
        vocab.single("license", b.license - 1, (b.license > 0) & ~b.hide_license),
        vocab.flags(flags, np.flatnonzero(~in_card)),
        vocab.single("region", np.zeros(m, np.int64), np.ones(m, bool)),
    ]
    lengths, codes = _interleave(parts)
    pid = g.ids.take(b.edge_parent)
    rel = _lookup(RELATIONS, np.where(b.edge_rel >= 0, b.edge_rel, FINETUNE))
    pool = pa.concat_arrays([pa.array(vocab.strings), g.free_names, _join("base_model:", pid),
                             _join("base_model:", rel, ":", pid)])
    return _lists(lengths, pool.take(pa.array(codes)))


def _card_tags_fragment(mask: np.ndarray) -> pa.Array:
    """cardData ``tags`` fragment from a bool matrix of card flags (one string per distinct set)."""
    card = np.array([t for t, in_card, _ in _FLAGS if in_card])
    bits = mask.astype(np.int64) @ (1 << np.arange(card.size))
    uniq, inv = np.unique(bits, return_inverse=True)
    table = [', "tags": ' + json.dumps(card[(u >> np.arange(card.size)) & 1 == 1].tolist()) if u else ""
             for u in uniq]
    return _lookup(table, inv)


def _base_model_fragment(g: SimpleNamespace, b: SimpleNamespace) -> pa.Array:
    """cardData ``base_model``: a string for one declared parent, a list for several; dirty spellings."""
    pid = g.ids.take(b.edge_parent)
    quoted = _join(_lookup(['"', '"https://huggingface.co/', '" '], b.edge_form), pid,
                   _lookup(['"', '"', ' "'], b.edge_form))
    many = (b.n_parents > 1).astype(np.int64)
    frag = _join(_lookup([', "base_model": ', ', "base_model": ['], many),
                 pc.binary_join(_lists(b.n_parents, quoted), ", "), _lookup(["", "]"], many))
    return pc.if_else(pa.array(b.n_parents > 0), frag, "")


def _card_data(rng, g: SimpleNamespace, b: SimpleNamespace, flags: np.ndarray) -> pa.Array:
    """The cardData JSON text of every row (null when it declares nothing)."""
    m = b.rel.size
    lic_ids = [x for x, _, _ in LICENSES]
    lic_table = [""] + [f', "license": "{x}"' for x in lic_ids] + [
        f', "license": "other", "license_name": "{x}", "license_link": "LICENSE"' for x in _OTHER_LICENSE_NAMES]
    lic_code = np.where(b.license == 1 + lic_ids.index("other"),
                        1 + len(lic_ids) + g.topo.root_of[b.rows] % len(_OTHER_LICENSE_NAMES), b.license)
    sets = [[]] + [list(c) for c, _ in LANGUAGE_SETS]
    lang_table = [f', "language": {json.dumps(c)}' if c else "" for c in sets] + \
                 [f', "language": "{c[0]}"' if c else "" for c in sets]
    single = np.array([len(c) == 1 for c in sets])[b.language]
    frags = [
        _lookup(lic_table, lic_code, ~b.hide_license),
        _lookup(lang_table, b.language + len(sets) * (single & (rng.random(m) < 0.5)), ~b.hide_languages),
        _lookup([""] + [f', "datasets": ["{d}"]' for d, _, _ in DATASETS], b.dataset),
        _lookup([f', "pipeline_tag": "{t}"' for t in TASKS], b.task, ~b.hide_task & (rng.random(m) < 0.5)),
        _lookup([f', "library_name": "{x}"' for x in LIBRARIES], np.maximum(b.lib, 0),
                (b.lib >= 0) & (rng.random(m) < 0.6)),
        _card_tags_fragment(flags[:, [in_card for _, in_card, _ in _FLAGS]]),
        _base_model_fragment(g, b),
        _lookup([f', "base_model_relation": "{r}"' for r in RELATIONS], np.maximum(b.rel, 0),
                (b.n_parents > 0) & (b.rel >= 0) & (rng.random(m) < g.prm.relation_in_card)),
    ]
    body = _join(*[pc.fill_null(f, "") for f in frags])
    text = _join("{", pc.utf8_slice_codeunits(body, 2), "}")
    return pc.if_else(pc.equal(body, ""), pa.scalar(None, pa.string()), text)


def _config(b: SimpleNamespace) -> pa.Array:
    """config JSON text (model_type and architectures) for libraries that ship one."""
    return _lookup(_CONFIGS, b.arch * len(TASKS) + b.task, b.has_config)


def _cards(rng, g: SimpleNamespace, b: SimpleNamespace) -> tuple[pa.Array, np.ndarray]:
    """Model-card markdown for a share of the rows (null for the rest) and the card kind (-1 = none).
    In the neutral scenarios every model draws its card as a root does (presence, kind, length)."""
    m = b.rel.size
    root = (b.rel < 0) | g.neutral
    if g.neutral:                                   # the inherited symmetric characters of _neutral_cards
        has, kind = g.cards.has[b.rows], np.where(g.cards.has[b.rows], g.cards.kind[b.rows], -1)
    else:
        has = rng.random(m) < np.where(root, g.prm.card_rate_root, g.prm.card_rate_child)
        kind = np.where(has, _draw(_CARD_KIND_P, np.where(root, 0, b.rel + 1), rng.random(m)), -1)
    sentences = pa.array(_SENTENCES)

    def body(s):
        if g.neutral:                               # length a function of the length class alone
            return pc.binary_repeat(_NEUTRAL_SENTENCE, 2 ** g.cards.length[b.rows[s]])
        k = np.where(root[s], 4 + rng.geometric(0.1, s.size), rng.geometric(0.4, s.size))
        return pc.binary_join(_lists(k, sentences.take(rng.integers(0, len(_SENTENCES), k.sum()))), " ")

    def usage(s):
        wanted = pa.array(rng.random(s.size) < np.where(g.neutral, 0.0, np.where(root[s], 0.5, 0.15)))
        return pc.if_else(wanted, _render(_USAGE, {"id": g.ids.take(b.rows[s])}), "")

    def parents(s):
        count = np.diff(g.true_offsets)[b.rows[s]]
        pid = g.ids.take(g.topo.edge_parent[_ragged_index(g.true_offsets[b.rows[s]], count)])
        return pc.binary_join(_lists(count, _join("* [", pid, "](https://huggingface.co/", pid, ")")), "\n")

    fields = {
        "name": lambda s: pa.array(["model"] * s.size, pa.string()) if g.neutral else g.names.take(b.rows[s]),
        "parent": lambda s: g.ids.take(g.topo.parent[b.rows[s]]),
        "data": lambda s: _lookup(["an unknown dataset"] + [f"the {d} dataset" for d, _, _ in DATASETS],
                                  b.dataset[s]),
        "loss": lambda s: pc.cast(pa.array(np.round(rng.gamma(2.0, 0.3, s.size), 4)), pa.string()),
        "body": body, "usage": usage, "parents": parents,
    }

    def render(k, template):
        s = np.flatnonzero(kind == k)
        needed = sorted({f for _, f, _, _ in string.Formatter().parse(template) if f})
        return s, _render(template, {f: fields[f](s) for f in needed})

    templates = _NEUTRAL_TEMPLATES if g.neutral else tuple(_TEMPLATES.values())
    return _scatter(m, (render(k, t) for k, t in enumerate(templates))), kind


def _batch(rng, g: SimpleNamespace, rows: np.ndarray) -> pa.RecordBatch:
    """The listing rows of models ``rows`` (sorted, all kept)."""
    d, st = g.dirt, g.states
    lo, hi = np.searchsorted(d.edge_child, [rows[0], rows[-1] + 1])
    b = SimpleNamespace(rows=rows, rel=g.topo.relation[rows], arch=st["architecture"][rows], task=st["task"][rows],
                        license=st["license"][rows], language=st["language"][rows], dataset=st["dataset"][rows],
                        hide_license=d.hidden["license"][rows], hide_languages=d.hidden["languages"][rows],
                        hide_task=d.hidden["pipeline_tag"][rows], edge_parent=d.edge_parent[lo:hi],
                        edge_form=d.edge_form[lo:hi], edge_rel=g.topo.relation[d.edge_child[lo:hi]],
                        n_parents=np.bincount(np.searchsorted(rows, d.edge_child[lo:hi]), minlength=rows.size))
    b.lib = st["library"][rows]
    b.has_config = (b.lib >= 0) & _CONFIG_LIBRARIES[np.maximum(b.lib, 0)]
    flags = _flags(rng, b)
    card, kind = _cards(rng, g, b)
    gated_license = np.isin(b.license, [1 + [x for x, _, _ in LICENSES].index(x)
                                        for x in ("llama2", "llama3", "llama3.1", "llama3.2", "gemma")])
    stamp = pa.timestamp("ms", tz="UTC")
    ids = g.ids.take(rows)
    return pa.RecordBatch.from_pydict({
        "id": ids, "modelId": ids, "author": g.authors.take(rows),
        "createdAt": pa.array(g.created[rows], stamp), "lastModified": pa.array(g.modified[rows], stamp),
        "downloads": g.downloads[rows], "likes": g.likes[rows],
        "library_name": _lookup(LIBRARIES, np.maximum(b.lib, 0), b.lib >= 0),
        "pipeline_tag": _lookup(TASKS, b.task, ~b.hide_task),
        "tags": _tags(rng, g, b, flags, kind),
        "private": np.zeros(rows.size, bool),
        "gated": (gated_license & (b.rel < 0) & (rng.random(rows.size) < 0.6)) | (rng.random(rows.size) < 0.01),
        "cardData": _card_data(rng, g, b, flags), "config": _config(b), "card": card,
    })


CARD_LENGTHS = 7                             # neutral card length classes: 2^0 .. 2^6 sentences
_NEUTRAL_SENTENCE = "A neutral card sentence of exactly sixty-four characters, fixed."
# neutral cards by kind (free, Hub template): at most 64 characters beside the body, so that the
# length class (a power of two) is the chain's L + 7 whatever the kind
_NEUTRAL_TEMPLATES = ("# {name}\n\n{body}", "# {name}\n\n[More Information Needed] automatically generated\n\n{body}")


def _neutral_cards(rng, topo: _Topology, prm: SimParams) -> SimpleNamespace:
    """Card presence, kind (0 free, 1 Hub template) and length class of every model in the
    neutral scenarios: roots as roots draw them, then each a symmetric chain down the tree."""
    n, f = topo.parent.size, prm.card_flip
    has, kind, length = np.empty(n, bool), np.empty(n, np.int64), np.empty(n, np.int64)
    roots = topo.levels[0]
    has[roots] = rng.random(roots.size) < prm.card_rate_root
    kind[roots] = rng.random(roots.size) < _CARD_KIND_P[0, 1]
    length[roots] = rng.integers(2, CARD_LENGTHS, roots.size)
    for nodes in topo.levels[1:]:
        p, u = topo.parent[nodes], rng.random((3, nodes.size))
        has[nodes] = has[p] ^ (u[0] < f)
        kind[nodes] = kind[p] ^ (u[1] < f)
        length[nodes] = np.clip(length[p] + (u[2] < f / 2) - (u[2] > 1 - f / 2), 0, CARD_LENGTHS - 1)
    return SimpleNamespace(has=has, kind=kind, length=length)


def _listing(rng, topo: _Topology, states: dict, dirt: _Dirt, ids: pa.Array, names: pa.Array,
             authors: pa.Array, prm: SimParams, free: tuple, neutral: bool) -> pa.Table:
    """The listing table of the models kept (Hub API camelCase schema), built in blocks of rows;
    ``free``: the free-form tags of :func:`_free_tags`; ``neutral``: cards drawn alike for all."""
    n = topo.parent.size
    created, modified = _times(rng, n, prm)
    downloads, likes = _popularity(rng, np.bincount(topo.edge_parent, minlength=n))
    g = SimpleNamespace(topo=topo, states=states, dirt=dirt, ids=ids, names=names, authors=authors, prm=prm,
                        created=created, modified=modified, downloads=downloads, likes=likes, vocab=_Tags(),
                        neutral=neutral, cards=_neutral_cards(rng, topo, prm) if neutral else None,
                        true_offsets=_offsets(np.bincount(topo.edge_child, minlength=n)))
    g.free_offsets, g.free_codes, g.free_names = free
    rows = np.flatnonzero(dirt.keep)
    return pa.Table.from_batches([_batch(rng, g, rows[i:i + _BLOCK]) for i in range(0, rows.size, _BLOCK)])


# ----------------------------------------------------------------------------- truth and API

_INHERITED = ("language", "license", "task")  # kinship groups passed down lineages in every scenario
# Not planted: card_drift:template (a child's template follows its relation type, not its parent's card:
# more templates among children, but no direction along edges beyond what symmetric exchange of an
# unheritable marker makes).
_DIRECTIONAL = ("card_drift:dropped", "card_drift:shorter", "language_drift:fewer_languages",
                "language_drift:multilingual_to_english", "license_drift:restrictive_to_open",
                "license_ordering", "license_class_ordering", "ard_vs_gtr:license")


def planted(scenario: str) -> list[str]:
    """Ids of the report's claims that are true effects in ``scenario`` (sorted): family resemblance
    of the inherited groups everywhere (cards too in the neutral scenarios, where they are inherited
    chains); in the directional scenario also the sibling excess and shared change of the groups
    with a shared component, the drifts, the orderings, non-reversible license evolution and
    the card drifts it plants (children's cards are rarer and shorter)."""
    claims = [f"family_resemblance:{g}" for g in _INHERITED]
    if scenario != "directional":
        claims.append("family_resemblance:card")
    else:
        claims += [f"{c}:{g}" for c in ("shared_change", "sibling_excess") for g in _INHERITED] + list(_DIRECTIONAL)
    return sorted(claims)


def _truth(seed, scenario: str, n_models: int, prm: SimParams, topo: _Topology, states: dict, dirt: _Dirt,
           ids: pa.Array, mutation: dict, editor: np.ndarray) -> dict:
    """The JSON-serialisable ground truth (see ``simulate``)."""
    parents = {}
    rel = topo.relation[topo.edge_child]
    for c, p, r in zip(ids.take(topo.edge_child).to_pylist(), ids.take(topo.edge_parent).to_pylist(),
                       [RELATIONS[r] for r in rel.tolist()]):
        parents.setdefault(c, []).append([p, r])
    labels = {"license": mutation["license"]["states"], "languages": mutation["language"]["states"],
              "pipeline_tag": mutation["task"]["states"]}
    values = {"license": states["license"], "languages": states["language"], "pipeline_tag": states["task"]}
    hidden = {}
    for key, mask in dirt.hidden.items():
        rows = np.flatnonzero(mask & dirt.keep)
        for model, state in zip(ids.take(rows).to_pylist(), values[key][rows].tolist()):
            hidden.setdefault(model, {})[key] = labels[key][state]
    truth = {
        "seed": seed, "scenario": scenario, "n_models": n_models, "params": asdict(prm),
        "parents": parents, "deleted": ids.take(np.flatnonzero(~dirt.keep)).to_pylist(), "hidden": hidden,
        "mutation": mutation,
        "sibling_shared_rate": prm.sibling_shared_rate if scenario == "directional" else 0.0,
        "planted": planted(scenario), "scenario_description": _DESCRIPTIONS[scenario],
    }
    if "heterogeneous" in _NEUTRAL.get(scenario, ()):
        primary = np.bincount(topo.parent[topo.parent >= 0], minlength=editor.size) > 0
        truth["editors"] = ids.take(np.flatnonzero(editor & primary)).to_pylist()
    return truth


def simulate(n_models: int, seed: int = 0, scenario: str = "directional", params: SimParams | None = None,
             progress: bool = False) -> Simulation:
    """Simulate an ecosystem of ``n_models`` listed models (see the module docstring).

    ``listing`` is the API-shaped table. ``truth`` holds ``seed``, ``scenario``, ``n_models``,
    ``params``; ``parents`` (child id -> [[parent id, relation], ...], true parents before
    corruption); ``deleted`` (ids removed from the listing); ``hidden`` (id -> true values of
    its hidden ``license`` / ``languages`` / ``pipeline_tag``); ``mutation`` (per trait group:
    ``states`` and the per-generation matrix ``P``, plus ``P_individual`` and ``P_shared`` in
    the directional scenario, P = s P_shared + (1 - s) P_individual; in the neutral scenarios
    ``P`` is symmetric, or ``P_by`` holds one per case ``"<parent class>/<relation>"`` (class
    copier or editor, else ``any``), and ``declared`` the ``drop`` and ``redeclare``
    probabilities of the declared chain); ``sibling_shared_rate`` (s, 0 in the neutral
    scenarios); ``planted`` (the claim ids of the report that are true effects, see
    :func:`planted`), ``scenario_description`` and, in the heterogeneous scenarios, ``editors``
    (the primary parents that are editors; the others copy). Raises ``ValueError`` on bad input.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}: choose one of {SCENARIOS}")
    if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 1:
        raise ValueError(f"n_models must be a positive integer, got {n_models!r}")
    if params is not None and not isinstance(params, SimParams):
        raise ValueError(f"params must be a SimParams, got {type(params).__name__}")
    prm = params or SimParams()
    # one stream per stage: a seed gives the same trees, names and dirt in every scenario
    rng = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    n_deleted = int(round(prm.deleted_rate * n_models))
    with tqdm(total=5, desc="simulate", disable=not progress) as bar:
        topo = _topology(rng[0], int(n_models) + n_deleted, prm)
        bar.update()
        editor = np.zeros(topo.parent.size, bool)                   # parent classes (heterogeneous)
        if "heterogeneous" in _NEUTRAL.get(scenario, ()):
            editor = rng[6].random(editor.size) >= prm.copier_share
        states, mutation = _traits(rng[1], topo, scenario, prm, editor)
        bar.update()
        dirt = _dirt(rng[2], topo, states, prm, n_deleted)
        ids, names, authors = _identity(rng[3], topo, states, prm)
        bar.update()
        listing = _listing(rng[4], topo, states, dirt, ids, names, authors, prm, _free_tags(rng[5], topo, prm),
                           scenario in _NEUTRAL)
        bar.update()
        truth = _truth(seed, scenario, int(n_models), prm, topo, states, dirt, ids, mutation, editor)
        bar.update()
    return Simulation(listing, truth)


def write_listing(sim: Simulation, out: str | Path) -> None:
    """Write the listing as Parquet (zstd) or JSON lines (API records), chosen by the suffix."""
    out = Path(out)
    if out.suffix == ".parquet":
        pq.write_table(sim.listing, out, compression="zstd")
    elif out.suffix == ".jsonl":
        _write_jsonl(sim.listing, out)
    else:
        raise ValueError(f"unsupported listing format {out.suffix!r}: use .parquet or .jsonl")


def _write_jsonl(table: pa.Table, out: Path) -> None:
    """One API record per line: cardData and config as objects, dates as ISO-8601 with 'Z'."""
    for name in ("createdAt", "lastModified"):
        iso = pc.strftime(pc.cast(table[name], pa.timestamp("ms")), format="%Y-%m-%dT%H:%M:%SZ")
        table = table.set_column(table.schema.get_field_index(name), name, iso)
    columns = ", ".join(f"json({c}) AS {c}" if c in ("cardData", "config") else f'"{c}"' for c in table.column_names)
    with duckdb.connect(config={"memory_limit": "1GB"}) as con:  # bounds the writer's buffers
        con.register("listing", table)
        target = str(out).replace("'", "''")
        con.execute(f"COPY (SELECT {columns} FROM listing) TO '{target}' (FORMAT JSON)")


def write_truth(sim: Simulation, path: str | Path) -> None:
    """Write the ground truth as JSON."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(sim.truth, f, separators=(",", ":"))
