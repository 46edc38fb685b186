"""License ids, their classes and the rules a child's license must follow from its parent's.

Classes (``CLASSES``): ``permissive``, ``public-domain``, ``copyleft`` (share-alike),
``non-commercial``, ``community`` (model-specific licenses: Llama, Gemma, the RAIL
family) and ``other`` (``other`` without a known name, ``unknown`` and every id not in
``TABLE``: never a crash, never judged). ``TABLE`` names the source of each
classification: the SPDX license list with the OSI / FSF category, the Creative Commons
deed, or the license text itself. A card's ``license: other`` with a ``license_name`` is
the id ``other:<name>``, classified by ``NAMES`` (e.g. ``other:mrl``, the non-commercial
Mistral AI Research License), by ``TABLE`` when the name is a Hub id, or as
non-commercial when the name says so; other names stay unclassified. Flags: ``nd`` (no derivatives: cc-by-nd is classed permissive, as it allows
commercial use, but no derivative may follow it), ``weak`` (weak / file-level copyleft,
whose reach over model weights is unclear), ``rail`` (the RAIL family).

Rules (``RULES``): an edge fires at most one, checked in this order; ``certain`` is
False where the license text leaves room (RAIL licenses allow other terms for
derivatives if the use restrictions are passed on; weak copyleft; switching between
two restrictive licenses).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES = ("permissive", "public-domain", "copyleft", "non-commercial", "community", "other")
PERMISSIVE, PUBLIC_DOMAIN, COPYLEFT, NON_COMMERCIAL, COMMUNITY, OTHER = range(len(CLASSES))

_SPDX_OSI = "SPDX list; OSI-approved permissive"
_SPDX_FSF = "SPDX list; FSF copyleft"
_CC = "Creative Commons license deed"

# license id -> (class, family, flags, source of the classification)
TABLE: dict[str, tuple[str, str, str, str]] = {
    **{k: ("permissive", k, "", _SPDX_OSI) for k in (
        "apache-2.0", "mit", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
        "bsd-3-clause-clear", "ecl-2.0", "isc", "ncsa", "postgresql", "zlib")},
    "wtfpl": ("permissive", "wtfpl", "", "SPDX list; FSF free, no conditions"),
    "lppl-1.3c": ("permissive", "lppl", "", "SPDX list; LaTeX Project (permissive with renaming)"),
    "apple-ascl": ("permissive", "apple-ascl", "", "Apple Sample Code License text (permissive)"),
    "openmdw-1.0": ("permissive", "openmdw", "", "OpenMDW license text (permissive for model materials)"),
    "etalab-2.0": ("permissive", "etalab", "", "Etalab Licence Ouverte 2.0 text (attribution only)"),
    **{f"cc-by-{v}": ("permissive", "cc-by", "", _CC + " (BY: attribution only)") for v in ("2.0", "2.5", "3.0", "4.0")},
    **{k: ("permissive", k, "", "Linux Foundation CDLA text (permissive data license)")
       for k in ("cdla-permissive-1.0", "cdla-permissive-2.0")},
    "odc-by": ("permissive", "odc-by", "", "Open Data Commons ODC-By text (attribution only)"),
    "cc0-1.0": ("public-domain", "cc0", "", _CC + " (CC0 public-domain dedication)"),
    "unlicense": ("public-domain", "unlicense", "", "SPDX list; OSI-approved public-domain dedication"),
    "pddl": ("public-domain", "pddl", "", "Open Data Commons PDDL text (public domain)"),
    **{k: ("copyleft", "gpl", "", _SPDX_FSF) for k in ("gpl", "gpl-2.0", "gpl-3.0")},
    "agpl-3.0": ("copyleft", "agpl", "", _SPDX_FSF + " (network)"),
    **{k: ("copyleft", "lgpl", "weak", _SPDX_FSF + " (weak, library)") for k in ("lgpl", "lgpl-2.1", "lgpl-3.0", "lgpl-lr")},
    **{k: ("copyleft", k.rsplit("-", 1)[0], "weak", "SPDX list; OSI weak (file-level) copyleft")
       for k in ("mpl-2.0", "epl-1.0", "epl-2.0", "ms-pl")},
    **{k: ("copyleft", "eupl", "", "SPDX list; OSI copyleft") for k in ("eupl-1.1", "eupl-1.2")},
    "osl-3.0": ("copyleft", "osl", "", "SPDX list; OSI copyleft"),
    "gfdl": ("copyleft", "gfdl", "", _SPDX_FSF + " (documentation)"),
    "ofl-1.1": ("copyleft", "ofl", "weak", "SPDX list; SIL Open Font License (derivatives stay OFL)"),
    **{f"cc-by-sa-{v}": ("copyleft", "cc-by-sa", "", _CC + " (SA: share-alike)") for v in ("2.0", "3.0", "4.0")},
    "cdla-sharing-1.0": ("copyleft", "cdla-sharing", "", "Linux Foundation CDLA-Sharing text (share-alike)"),
    "odbl": ("copyleft", "odbl", "", "Open Data Commons ODbL text (share-alike)"),
    **{f"cc-by-nc-{v}": ("non-commercial", "cc-by-nc", "", _CC + " (NC)") for v in ("2.0", "3.0", "4.0")},
    **{f"cc-by-nc-sa-{v}": ("non-commercial", "cc-by-nc-sa", "", _CC + " (NC, SA)") for v in ("2.0", "3.0", "4.0")},
    **{f"cc-by-nc-nd-{v}": ("non-commercial", "cc-by-nc-nd", "nd", _CC + " (NC, ND)") for v in ("3.0", "4.0")},
    "cc-by-nd-4.0": ("permissive", "cc-by-nd", "nd", _CC + " (ND: no adapted material may be shared)"),
    "fair-noncommercial-research-license": ("non-commercial", "fair-nc", "", "Meta FAIR license text (research only)"),
    "deepfloyd-if-license": ("non-commercial", "deepfloyd-if", "", "DeepFloyd IF license text (research only)"),
    "apple-amlr": ("non-commercial", "apple-amlr", "", "Apple ML Research license text (research only)"),
    "intel-research": ("non-commercial", "intel-research", "", "Intel research license text (research only)"),
    "llama2": ("community", "llama2", "", "Llama 2 Community License (derivatives carry its terms)"),
    **{k: ("community", "llama3", "", "Llama 3.x Community License (derivatives carry its terms)")
       for k in ("llama3", "llama3.1", "llama3.2", "llama3.3")},
    "llama4": ("community", "llama4", "", "Llama 4 Community License (derivatives carry its terms)"),
    "gemma": ("community", "gemma", "", "Gemma Terms of Use (derivatives carry its terms)"),
    **{k: ("community", "openrail", "rail", "RAIL license text (use restrictions must be passed on)")
       for k in ("openrail", "openrail++", "creativeml-openrail-m", "bigscience-openrail-m",
                 "bigscience-bloom-rail-1.0", "bigcode-openrail-m")},
}


# ``license: other`` comes with a ``license_name``; the genomes keep it as the id ``other:<name>``
# (lower case). license_name -> (class, family, flags, source), for the names met on real cards
NAMES: dict[str, tuple[str, str, str, str]] = {
    "mrl": ("non-commercial", "mistral-research", "", "Mistral AI Research License text (research and "
            "non-commercial use only)"),
    "mnpl": ("non-commercial", "mistral-non-production", "", "Mistral AI Non-Production License text "
             "(no production or commercial use)"),
    "exaone": ("non-commercial", "exaone", "", "EXAONE AI Model License Agreement 1.1 - NC text (research only)"),
    "microsoft-research-license": ("non-commercial", "microsoft-research", "", "Microsoft Research "
                                   "License text (non-commercial research only)"),
    "qwen-research": ("non-commercial", "qwen-research", "", "Qwen Research License text (non-commercial)"),
    "flux-1-dev-non-commercial-license": ("non-commercial", "flux-1-dev", "", "FLUX.1 [dev] Non-Commercial "
                                          "License text"),
    "stabilityai-nc-research-community": ("non-commercial", "stabilityai-nc", "", "Stability AI "
                                          "Non-Commercial Research Community License text"),
    **{k: ("community", "qwen", "", "Tongyi Qianwen License text (commercial use below a user threshold; "
           "derivatives carry its terms)") for k in ("qwen", "tongyi-qianwen")},
    **{k: ("community", "deepseek", "rail", "DeepSeek License Agreement text (OpenRAIL-style use "
           "restrictions passed on)") for k in ("deepseek", "deepseek-license")},
    "stabilityai-ai-community": ("community", "stabilityai", "", "Stability AI Community License text "
                                 "(commercial use below a revenue threshold)"),
    "yi-license": ("community", "yi", "", "Yi Series Models License text (derivatives carry its terms)"),
    "falcon-llm-license": ("community", "falcon", "", "TII Falcon License text (derivatives carry its terms)"),
    "nvidia-open-model-license": ("community", "nvidia-open-model", "", "NVIDIA Open Model License text "
                                  "(model-specific terms passed on)"),
    "health-ai-developer-foundations": ("community", "hai-def", "", "Health AI Developer Foundations terms "
                                        "of use (derivatives carry its terms)"),
}
_NAMED_NC = ("non-commercial", "noncommercial")      # a name that says so is taken at its word


def entry(license_id: str | None) -> tuple[str, str, str, str] | None:
    """(class, family, flags, source) of a Hub license id or an ``other:<license_name>`` id, or
    None (unclassified: ``other`` without a known name, ``unknown``, anything else). A name
    that is itself a Hub id (``other:llama4``) counts as that id."""
    key = (license_id or "").strip().lower()
    name = key[len("other:"):] if key.startswith("other:") else None
    if name is None:
        return TABLE.get(key)
    if found := NAMES.get(name) or TABLE.get(name):
        return found
    if any(word in name for word in _NAMED_NC):
        return "non-commercial", name, "", "the license's own name (license_name) says non-commercial"
    return None


@dataclass(frozen=True)
class Rule:
    name: str
    certain: bool
    meaning: str


RULES = (
    Rule("no-derivatives", True, "parent forbids sharing adapted material (CC ND)"),
    Rule("non-commercial-lifted", True, "non-commercial parent, child allows commercial use"),
    Rule("non-commercial-to-community", False, "non-commercial parent, child under a model "
         "license that usually allows commercial use"),
    Rule("share-alike-dropped", True, "share-alike parent, child not under a share-alike license"),
    Rule("weak-copyleft-dropped", False, "weak-copyleft parent, child not copyleft (reach over weights unclear)"),
    Rule("share-alike-switched", False, "share-alike parent, child under another share-alike license"),
    Rule("community-relicensed", True, "Llama/Gemma-licensed parent, child under a permissive, "
         "public-domain or copyleft license"),
    Rule("rail-relicensed", False, "RAIL-licensed parent, child under an open license (allowed only "
         "if the use restrictions are kept)"),
    Rule("community-switched", False, "model-licensed parent, child under another model or "
         "non-commercial license"),
)
RULE = {r.name: i for i, r in enumerate(RULES)}


def classify(license_id: str | None) -> str:
    """The class of a license id (:func:`entry`; unclassified ids and None are ``other``)."""
    found = entry(license_id)
    return found[0] if found else "other"


def rule_for(parent: str | None, child: str | None) -> Rule | None:
    """The rule a parent -> child license pair breaks, or None (allowed, or not judged)."""
    p, c = entry(parent), entry(child)
    if p is None or c is None or parent.strip().lower() == child.strip().lower():
        return None
    (pc, pf, pflags, _), (cc, cf, _, _) = p, c
    open_ = cc in ("permissive", "public-domain", "copyleft")
    if "nd" in pflags:
        name = "no-derivatives"
    elif pc == "non-commercial":
        name = ("non-commercial-lifted" if open_ else
                "non-commercial-to-community" if cc == "community" else None)
    elif pc == "copyleft":
        name = (("weak-copyleft-dropped" if "weak" in pflags else "share-alike-dropped") if cc != "copyleft"
                else "share-alike-switched" if cf != pf else None)
    elif pc == "community":
        name = (("rail-relicensed" if "rail" in pflags else "community-relicensed") if open_
                else "community-switched" if cf != pf else None)
    else:
        name = None
    return RULES[RULE[name]] if name else None


def pair_rules(names: list[str]) -> np.ndarray:
    """(k, k) rule index (-1 none) for every pair of the license ids ``names``."""
    k = len(names)
    out = np.full((k, k), -1, np.int64)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            r = rule_for(a, b)
            out[i, j] = -1 if r is None else RULE[r.name]
    return out


def class_states(states: np.ndarray, names: list[str]) -> np.ndarray:
    """License-id states (-1 unknown) mapped to class indices (-1 unknown)."""
    lut = np.array([CLASSES.index(classify(n)) for n in names] + [-1], np.int64)
    return lut[np.where(states >= 0, states, len(names))]
