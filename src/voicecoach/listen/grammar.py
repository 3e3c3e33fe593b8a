"""Compile a vocabulary into a constrained grammar for PocketSphinx.

The grammar is one utterance = one phrase of the vocabulary, OR one common English word
that is not a command (a "competitor"). Competitors act as a garbage model made of real words:
"dog" comes out as "dog" instead of being forced onto "go". They are the words the bundled
language model rates most likely, minus the vocabulary's words and words within a phone of
them: "know" would steal "no", and "of" would steal "off".
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

from ..vocabulary import Vocabulary


def missing_words(vocabulary: Vocabulary, lookup: Callable[[str], str | None]) -> set[str]:
    return {w for w in vocabulary.words() if lookup(w) is None}


def jsgf_for(vocabulary: Vocabulary, competitors: list[str] = []) -> str:
    alternatives = [" ".join(_token(w) for w in p.split()) for p in vocabulary.all_phrases()]
    alternatives += [_token(w) for w in competitors]
    return ("#JSGF V1.0;\ngrammar voicecoach;\npublic <utterance> = "
            + " | ".join(alternatives) + ";\n")


def _token(word: str) -> str:
    # JSGF takes bare tokens with apostrophes (let's); anything else odd is refused earlier by
    # the dictionary check, as the dictionary has no such word.
    return word


# Number words: counting (reps, minutes, "two more") is the speech a workout is full of, and
# the most probable words of the language model leave most of them out; "six" then came out as
# "status" and "five" or "nine" as "pause" (docs/listening.md).
COUNTING_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                  "nine", "ten", "eleven", "twelve", "fifteen", "twenty", "thirty", "forty",
                  "fifty", "sixty", "hundred")


def competitor_words(vocabulary: Vocabulary, lookup: Callable[[str], str | None],
                     count: int, min_distance: int = 1) -> list[str]:
    """The counting words and the `count` most probable words, each at least `min_distance`
    phones (edit distance) from every pronunciation of every vocabulary word."""
    taken = vocabulary.words()
    taken_sounds = [tuple(pr.split()) for w in taken for pr in _pronunciations().get(w, ())]

    def far_enough(word: str) -> bool:
        return word not in taken and lookup(word) is not None and not any(
            _phone_distance(tuple(pr.split()), t) < min_distance
            for pr in _pronunciations().get(word, ()) for t in taken_sounds)

    out = [w for w in COUNTING_WORDS if far_enough(w)]
    ranked = 0
    for word in _ranked_english_words():
        if ranked >= count:
            break
        if word not in out and far_enough(word):
            out.append(word)
            ranked += 1
    return out


def _phone_distance(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    row = list(range(len(b) + 1))
    for i, pa in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, pb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (pa != pb))
    return row[-1]


def _model_dir() -> Path:
    from pocketsphinx import get_model_path
    return Path(get_model_path()) / "en-us"


@lru_cache(maxsize=1)
def _pronunciations() -> dict[str, frozenset[str]]:
    prons: dict[str, set[str]] = {}
    with open(_model_dir() / "cmudict-en-us.dict", encoding="utf-8") as f:
        for line in f:
            word, *phones = line.split()
            prons.setdefault(word.split("(")[0], set()).add(" ".join(phones))
    return {w: frozenset(p) for w, p in prons.items()}


@lru_cache(maxsize=1)
def _ranked_english_words(limit: int = 3000) -> tuple[str, ...]:
    """Alphabetic dictionary words, most probable first by the bundled unigram model."""
    from pocketsphinx import Config, LogMath, NGramModel
    lm = NGramModel(Config(loglevel="FATAL"), LogMath(), str(_model_dir() / "en-us.lm.bin"))
    scored = []
    for word in _pronunciations():
        if word.isalpha():
            scored.append((lm.prob([word]), word))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return tuple(w for _, w in scored[:limit])


# Competitors for languages whose model comes without a ranked word list: everyday words
# (numbers, pronouns, short answers and verbs, common nouns) a bystander or the user may say.
# Homophones of command words are left out ("내" sounds like "네").
EVERYDAY_WORDS: dict[str, tuple[str, ...]] = {
    "ko": tuple("""하나 둘 셋 넷 다섯 여섯 일곱 여덟 아홉 열 일 이 삼 사 오 육 칠 팔 구 십 백
        나 너 우리 그 저 것 거 이거 그거 저거 여기 거기 저기 뭐 왜 어디 누구 언제 어떻게
        하다 해 했어 있어 없어 가 와 봐 줘 좋아 싫어 그래 응 어 음 아 진짜 정말 괜찮아 
        사람 오늘 내일 어제 집 물 밥 친구 엄마 아빠 학교 회사 전화 노래 음악 운동 자전거 
        고양이 강아지 새 나무 문 책 차 길 돈 말 손 눈 마음 생각 시간이 그냥 조금 많이 너무
        오케이 안녕 감사 미안""".split()),
}
