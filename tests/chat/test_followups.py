"""What a chat remembers for follow-ups: per chat and user, the answer a reply is to, expiry and bounds."""

from __future__ import annotations

from bot.chat import followups
from bot.chat.followups import Conversations, Turn, answer_in_turn
from bot.index.library import Library

TURN = Turn("How many stations will be rebuilt?", frozenset({3}), at=100.0)
OTHER_TURN = Turn("Who signed the memorandum?", frozenset({7}), at=100.0)


def test_the_last_turn_is_kept_per_chat_and_user_and_expires() -> None:
    talk = Conversations(window=300.0)
    talk.remember(1, 10, TURN)
    assert talk.before(1, 10, now=150.0) == TURN
    assert talk.before(1, 11, now=150.0) is None  # another user in the same chat
    assert talk.before(2, 10, now=150.0) is None  # the same user in another chat
    assert talk.before(1, 10, now=401.0) is None  # five minutes and a second later


def test_a_reply_leans_on_the_answer_it_replies_to_if_it_was_for_the_same_user() -> None:
    talk = Conversations(window=300.0)
    talk.remember(1, 10, TURN, messages=[55])
    talk.remember(1, 10, OTHER_TURN, messages=[56])
    assert talk.before(1, 10, now=200.0, reply_to=55) == TURN
    assert talk.before(1, 10, now=200.0) == OTHER_TURN
    # Long after the window, a reply still finds its answer; another user replying to it gets nothing of it.
    assert talk.before(1, 10, now=5000.0, reply_to=55) == TURN
    assert talk.before(1, 11, now=200.0, reply_to=55) is None
    assert talk.before(1, 10, now=100.0 + followups.REPLY_SECONDS + 1, reply_to=55) is None


def test_a_declined_question_leaves_nothing_to_lean_on() -> None:
    talk = Conversations(window=300.0)
    talk.remember(1, 10, TURN)
    talk.remember(1, 10, Turn("Who won the Champions League?", frozenset(), at=120.0))
    assert talk.before(1, 10, now=130.0) is None


def test_zero_minutes_turns_follow_ups_off() -> None:
    talk = Conversations(window=0.0)
    talk.remember(1, 10, TURN, messages=[55])
    assert talk.before(1, 10, now=100.0) is None and talk.before(1, 10, now=100.0, reply_to=55) is None


def test_memory_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(followups, "MOST_USERS", 3)
    monkeypatch.setattr(followups, "MOST_ANSWERS", 2)
    talk = Conversations(window=300.0)
    for user in range(5):
        talk.remember(1, user, TURN, messages=[user])
    assert [talk.before(1, user, now=100.0) is not None for user in range(5)] == [False, False, True, True, True]
    talk.remember(1, 4, OTHER_TURN, messages=[9])
    # Two answer messages are kept, the latest: a reply to an older one falls back to the user's last turn.
    assert talk.before(1, 4, now=100.0, reply_to=4) == TURN
    assert talk.before(1, 4, now=100.0, reply_to=3) == OTHER_TURN


def test_a_turn_remembers_what_it_showed_in_which_library(mini: Library) -> None:
    first, _, turn = answer_in_turn(mini, "What does the bank plan to fund?", None, now=0.0)
    assert first.answered and turn.shown and turn.question == "What does the bank plan to fund?"
    assert turn.library == id(mini)


TWO_SUBJECTS = {
    "tunnel.md": "# Tunnel\n\nThe Marxton tunnel is four kilometres long. The tunnel opened in 1950.\n",
    "bridge.md": "# Bridge\n\nThe Fredville bridge is three hundred metres long. The bridge opened in 1802.\n",
}


def test_a_short_question_answered_on_its_own_is_not_pulled_back(build) -> None:
    library: Library = build(TWO_SUBJECTS)
    _, _, turn = answer_in_turn(library, "How long is the Marxton tunnel?", None, now=0.0)
    result, reading, _ = answer_in_turn(library, "When was the bridge opened?", turn, now=10.0)
    assert not reading.follows and reading.reason == "it is answered on its own"
    assert result.quotes[0].text == "The bridge opened in 1802."
    # With a sign ("it"), the same shortness leans on the tunnel.
    result, reading, _ = answer_in_turn(library, "When was it opened?", turn, now=10.0)
    assert reading.follows and result.quotes[0].text == "The tunnel opened in 1950."
