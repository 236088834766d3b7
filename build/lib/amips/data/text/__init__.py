"""Text corpora (WordNet, Wikipedia summaries, local BEIR directories) embedded with all-MiniLM-L6-v2.

Importing this package does not load torch or the model; that happens on the first encode.
Note that importing :mod:`amips.data.text.encoder` sets ``HF_HUB_OFFLINE=1`` and
``TRANSFORMERS_OFFLINE=1`` for the process.
"""

from amips.data.text.beir import load_beir
from amips.data.text.build import build_text_dataset, load_corpus
from amips.data.text.corpus import TextCorpus, dedup, texts_sha256
from amips.data.text.encoder import DIM, MODEL_NAME, encode, encode_cached
from amips.data.text.wikipedia import load_wikipedia
from amips.data.text.wordnet import load_wordnet

__all__ = [
    "DIM", "MODEL_NAME", "TextCorpus", "build_text_dataset", "dedup", "encode", "encode_cached",
    "load_beir", "load_corpus", "load_wikipedia", "load_wordnet", "texts_sha256",
]
