"""Words that may mean someone is in danger, or is thinking of harming themselves, in a
resident's chat message (Chinese and English). Standard library only.

    cues = danger_cues("is the fire drill on monday compulsory?")
    cues.danger      # ("fire",)    -> numbers and "is anyone in danger?" unless the FAQ answers
    cues.self_harm   # ()           -> crisis line and counselling, and a member of staff

The chat shows the emergency numbers whenever a message *may* be an emergency (cheap, never
harmful) and raises a critical incident only when the resident confirms, or the message is
unambiguous: the intent model is sure AND a cue is here AND the FAQ has no answer for it.
So these lists aim for recall: "fire drill" matches "fire", and the FAQ answer or the
resident's "no" keeps the wall quiet.

The lists were written from general knowledge of how emergencies are reported, in both
languages, not from any evaluation set.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_DANGER_EN = (
    r"fire|on fire|burning|burnt|smoke|smoking room|flames?|gas leak|smell(?:s|ing)? (?:of )?gas|"
    r"explo(?:sion|ded|de)|trapped|stuck in (?:the |a )?(?:lift|elevator)|"
    r"(?:lift|elevator) (?:is )?stuck|collapsed?|passed out|fainted|unconscious|"
    r"not breathing|can'?t breathe|cannot breathe|choking|seizure|fit|convulsi\w*|"
    r"heart attack|chest pain|stroke|bleeding|blood|bled|overdose[ds]?|pills|"
    r"poison(?:ed|ing)?|drown\w*|electrocut\w*|shock(?:ed)? by|"
    r"injur\w*|hurt|wounded|broken (?:leg|arm|bone|neck)|fell (?:down|from|off)|"
    r"assault\w*|attack\w*|stab\w*|knife|gun|shoot\w*|shot|weapon|fight(?:ing)?|"
    r"beat(?:ing)? (?:up|him|her|me)|punch\w*|rape\w*|molest\w*|kidnap\w*|"
    r"threaten\w*|following me|stalk\w*|break[- ]?in|burglar\w*|robb\w*|mugg\w*|"
    r"help+ ?!+|emergency|urgent|danger\w*|ambulance|police|"
    r"won'?t wake up|not waking up|not moving|unresponsive"
)
_SELF_HARM_EN = (
    r"kill (?:my ?self|me)|suicid\w*|end (?:it all|my life)|want to die|wanna die|"
    r"don'?t want to (?:live|be alive)|no reason to live|self[- ]?harm\w*|"
    r"hurt(?:ing)? my ?self|cut(?:ting)? my ?self|jump off|take all (?:my|the) pills|"
    r"better off dead|not want to live"
)
_DANGER_ZH = (
    "着火|失火|起火|火灾|火警|大火|冒烟|浓烟|烟雾|有烟|烧起来|烧着|煤气|燃气|天然气|漏气|"
    "爆炸|被困|困在|关在电梯|电梯故障|卡在电梯|电梯里出不来|晕倒|昏倒|昏迷|晕过去|不省人事|"
    "叫不醒|没有呼吸|不能呼吸|喘不上气|呼吸困难|噎住|抽搐|癫痫|心脏病|胸口疼|胸痛|"
    "中风|流血|出血|血流|大量的血|吃了很多药|吃了好多药|过量|中毒|溺水|落水|触电|受伤|"
    "摔倒|摔下|骨折|打架|斗殴|打人|被打|袭击|攻击|持刀|拿刀|刀|枪|抢劫|抢东西|偷窃|小偷|"
    "入室|强奸|性侵|猥亵|绑架|威胁|跟踪|救命|紧急|危险|急救|救护车|报警|警察|快来人"
)
_SELF_HARM_ZH = "不想活|活不下去|自杀|轻生|结束生命|了结|割腕|跳楼|寻死|想死|伤害自己|自残|轻生"

_DANGER_EN_RE = re.compile(rf"\b(?:{_DANGER_EN})\b", re.IGNORECASE)
_SELF_HARM_EN_RE = re.compile(rf"\b(?:{_SELF_HARM_EN})\b", re.IGNORECASE)
_DANGER_ZH_RE = re.compile(_DANGER_ZH)
_SELF_HARM_ZH_RE = re.compile(_SELF_HARM_ZH)

# Words that leave a step of the chat (a report being filled in, a question asked back).
CANCEL_WORDS = frozenset(
    {
        "cancel",
        "stop",
        "quit",
        "exit",
        "never mind",
        "nevermind",
        "forget it",
        "no thanks",
        "no thank you",
        "取消",
        "算了",
        "不用了",
        "不报了",
        "退出",
        "不要了",
    }
)


@dataclass(frozen=True)
class Cues:
    danger: tuple[str, ...]
    self_harm: tuple[str, ...]

    @property
    def any(self) -> bool:
        return bool(self.danger or self.self_harm)


def danger_cues(text: str) -> Cues:
    """The danger and self-harm words found in `text` (case-folded, NFKC)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    danger = _found(_DANGER_EN_RE, text) + _found(_DANGER_ZH_RE, text)
    self_harm = _found(_SELF_HARM_EN_RE, text) + _found(_SELF_HARM_ZH_RE, text)
    return Cues(danger=danger, self_harm=self_harm)


def is_cancel(text: str) -> bool:
    """Whether a message only says "stop" / "never mind" / "取消"."""
    core = unicodedata.normalize("NFKC", text).casefold().strip(" .!?。！？~,，")
    return core in CANCEL_WORDS


def _found(pattern: re.Pattern, text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m.group(0) for m in pattern.finditer(text)))
