"""Vocabularies of the simulated Hub: relations, architectures, tasks, licenses, languages, datasets, names, card text."""

from __future__ import annotations

import json

import numpy as np

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
