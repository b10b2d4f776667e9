"""A tiny English-like corpus, generated deterministically for the character-level LM.

Nothing is downloaded: sentences come from a small hand-written grammar (determiners,
adjectives, nouns, verbs, prepositions, a few fixed clauses) drawn with a seeded generator.
The text has the structure a character model can learn in a few hundred steps -- spelling
inside words, spaces and punctuation between them, agreement-free but repetitive phrases --
and enough randomness that its loss stays well above zero.
"""

from __future__ import annotations

import numpy as np

_DET = ("the", "a", "every", "one", "this", "that", "my", "our")
_ADJ = ("small", "quiet", "old", "bright", "slow", "green", "heavy", "clever", "early", "warm")
_NOUN = ("cat", "river", "engine", "garden", "teacher", "signal", "window", "farmer", "lamp",
         "pipeline", "stage", "message", "worker", "bridge", "model", "letter")
_VERB = ("sees", "moves", "carries", "waits for", "follows", "builds", "sends", "finds", "holds",
         "reads", "passes", "opens")
_PREP = ("near", "under", "after", "behind", "with", "across", "before", "over")
_TAIL = ("and the day goes on", "while the rain falls", "as the bell rings", "but nobody knows why",
         "so the work is done", "when the night comes")


def _phrase(rng: np.random.Generator) -> str:
    words = [str(rng.choice(_DET))]
    if rng.random() < 0.6:
        words.append(str(rng.choice(_ADJ)))
    words.append(str(rng.choice(_NOUN)))
    return " ".join(words)


def _sentence(rng: np.random.Generator) -> str:
    s = f"{_phrase(rng)} {rng.choice(_VERB)} {_phrase(rng)}"
    if rng.random() < 0.5:
        s += f" {rng.choice(_PREP)} {_phrase(rng)}"
    if rng.random() < 0.3:
        s += f", {rng.choice(_TAIL)}"
    return s + ". "


def tiny_corpus(chars: int = 24_000, seed: int = 0) -> str:
    """At least ``chars`` characters of generated sentences (lower case, spaces, ',' and '.')."""
    if chars < 100:
        raise ValueError(f"corpus chars: {chars}; give at least 100")
    rng = np.random.default_rng(seed)
    parts: list[str] = []
    size = 0
    while size < chars:
        s = _sentence(rng)
        parts.append(s)
        size += len(s)
    return "".join(parts)
