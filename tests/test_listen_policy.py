"""The one decision policy (listen/policy.py) on scores as engines give them: fragments need
more evidence, a clear command may be taken at a pause, a phrase that begins a longer one waits."""
from __future__ import annotations

from voicecoach.listen.policy import Policy, decide, decide_early, policy_for
from voicecoach.listen.scoring import Scores
from voicecoach.vocabulary import Vocabulary

VOCABULARY = Vocabulary.from_mapping("en", {"slower": ["slow", "slow down"], "stop": ["stop"],
                                            "go": ["go"]})
POLICY = Policy(margin=-3.0, min_seconds=0.0, fragment_seconds=0.12, fragment_margin=3.0,
                early=10.0)


def scores(best: str, margin: float) -> Scores:
    """`best` standing `margin` nats above "none", every other phrase far below."""
    phrases = {p: -40.0 for p in VOCABULARY.all_phrases()}
    phrases[best] = -1.0
    return Scores(phrases, -1.0 - margin, best)


def test_a_fragment_needs_the_fragment_margin_more():
    s = scores("go", -1.0)                      # 2 nats past Whisper's margin of -3
    assert decide(s, VOCABULARY, POLICY, 0.30).intent == "go"
    assert decide(s, VOCABULARY, POLICY, None).intent == "go"      # length not known
    short = decide(s, VOCABULARY, POLICY, 0.08)
    # ... and one not taken is no attempt worth a "not understood" (a knock, a cough).
    assert short.intent is None and short.reason == "too short for a command"
    assert decide(scores("go", 0.5), VOCABULARY, POLICY, 0.08).intent == "go"


def test_a_command_is_taken_early_only_when_it_is_clear():
    assert decide_early(scores("stop", 8.0), VOCABULARY, POLICY, 0.4).intent == "stop"
    # Past the ordinary margin, not past the early one: wait for the end of speech.
    assert decide_early(scores("stop", 5.0), VOCABULARY, POLICY, 0.4) is None
    assert decide(scores("stop", 5.0), VOCABULARY, POLICY, 0.4).intent == "stop"
    # The early margin comes on top of the fragment's.
    assert decide_early(scores("stop", 8.0), VOCABULARY, POLICY, 0.08) is None
    assert decide_early(scores("stop", 11.0), VOCABULARY, POLICY, 0.08).intent == "stop"


def test_a_phrase_that_begins_a_longer_one_is_never_taken_early():
    # "slow" might yet be "slow down": only the end of speech tells.
    assert decide_early(scores("slow", 30.0), VOCABULARY, POLICY, 0.4) is None
    assert decide(scores("slow", 30.0), VOCABULARY, POLICY, 0.4).intent == "slower"
    assert decide_early(scores("slow down", 30.0), VOCABULARY, POLICY, 0.4).intent == "slower"


def test_the_grammar_engines_never_decide_early_and_drop_fragments():
    for name in ("pocketsphinx", "vosk:small-ko", "pocketsphinx+learned"):
        p = policy_for(name)
        assert p.early is None and p.min_seconds == 0.12 and p.fragment_margin == 0.0
        assert decide_early(scores("stop", 50.0), VOCABULARY, p, 0.5) is None
    assert policy_for("whisper+head:tiny.en").early is not None
