"""Action items as the notes list them, with the owner in whatever form it is written: `(owner lee)`,
`(owner: bob)`, `@alice`, `carol to ...`, `- [ ] bob: ...`, `Owner - Dana`, `assigned to X`, `-> X`,
`— Luca, urgent`, a table's owner column, `(ken)`, and the writer's own `I'll do it` or `me:`. No owner
(`no owner yet`, `unassigned`, an empty cell) stays unassigned. Priorities (`P1`, `urgent`, `nice to have`) and
due dates (`due 2025-01-31`, `by friday`, `today`, `next sprint`) are carried as written, with the date where
it can be computed from the incident's day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dateutil import parser as dateparser

from agents.postmortem.reader.clock import DATE, MONTHS
from agents.postmortem.reader.lines import Line

IC = re.IGNORECASE
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
NO_OWNER = re.compile(r"\(?\b(?:no owner(?: yet)?|unassigned|owner\s*[:=]?\s*(?:tbd|tbc|none|n/a|-|\?)|nobody yet|"
                      r"(?:nobody|no one|noone) owns (?:it|this|that)(?: yet)?|needs an owner|owner needed)"
                      r"(?:\b|(?<=\?))"
                      r"\)?:?", IC)
# A name after "owner:": "lee", "@j.smith", "Tom Lee", "platform-team", "Maya (CS)"; never the next field's label
# ("Owner: platform-team. Priority: high").
_FIELD_LABEL = r"(?:priority|prio|due|eta|deadline|status|severity|P[0-4])\b"
_OWNER_NAME = (rf"@?[\w'-]+(?:\.[\w'-]+)*(?:\s+(?!{_FIELD_LABEL})[A-Z][\w'-]+)?(?:\s*\([^)]*\))?")
OWNER_MARKS = [
    re.compile(r"\(\s*(?:owner|assignee|dri)\s*[:\-–]?\s*(?P<o>[^,)]+?)\s*(?:[,)])", IC),
    re.compile(r"\[\s*owner\s*[:\-–]?\s*(?P<o>[^\]]+?)\s*\]", IC),
    re.compile(rf"\b(?:owner|assignee|dri|who)\s*[:=\-–]\s*(?P<o>{_OWNER_NAME})", IC),
    re.compile(rf"\bassigned to\s+(?P<o>{_OWNER_NAME})", IC),
    re.compile(r"(?:->|→)\s*(?P<o>[^,;]+?)(?=\s+to\s+|\s*[,;]|\s*$)"),
    re.compile(r"\((?!(?:P[0-4]|Due|Urgent|High|Low|Done)\b)(?P<o>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)\s*,[^)]*\)"),
    re.compile(r"(?<![\w.])@(?P<o>[\w.-]*\w)"),
    # "Thomas is in charge", "Dana is responsible", "Ops will own it"
    re.compile(r"\b(?P<o>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)\s+(?:is|will be|are)\s+(?:in charge|responsible|the owner|"
               r"owning (?:it|this))\b"),
    # "... and page the secondary too: Dana": a name after the item's last colon
    re.compile(r"(?<=\S):\s*(?P<o>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)\s*\.?$"),
]
ME_DASH = re.compile(r"^(?:me|myself)\s*[-–—]+\s+", IC)
# Work handed over in conversation: "Chidi pls own the customer comms", "Ana, can you take the status page?"
DELEGATED = re.compile(r"\b(?P<o>[A-Z][\w'-]+),?\s+(?:pls|please|plz|can you|could you)\s+"
                       r"(?P<what>(?:own|take|handle|drive|write|draft|do|follow up on|look into|chase)\b[^.;!?]+)")
NAME_COLON = re.compile(r"^(?P<o>@?[\w][\w.'-]*)\s?:\s+")
NAME_DASH = re.compile(r"^(?P<o>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)\s+[-–—]\s+(?=[a-z])")
NAME_TO = re.compile(r"^(?P<o>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?(?:\s*\([^)]*\))?)\s+to\s+(?=[a-z])")
LOWER_TO = re.compile(r"^(?P<o>[a-z][\w'-]+)\s+to\s+(?=[a-z])")
NOT_NAMES = {"ask", "need", "needs", "go", "try", "how", "time", "want", "move", "switch", "plan", "look", "make",
             "add", "remember", "decide", "have", "also", "and", "then", "we", "i", "you", "they", "someone", "it",
             "this", "that", "write", "use", "put", "lower", "fix", "stop", "get", "set", "check", "alert",
             "the", "a", "an", "all", "every", "maybe", "nice", "reindex", "ci", "iam", "who", "what", "where",
             "when", "why", "somebody", "everyone", "team", "start", "begin", "continue", "learn", "forget",
             "attempt", "failure", "failures", "customers", "users", "deploys", "alerts", "pages", "there", "he",
             "she", "us", "our", "my", "your", "their", "its", "these", "those", "each", "any", "no", "not"}
NOT_HANDLES = {"done", "scheduled", "optional", "wip", "maybe", "draft", "cs", "eng", "later", "again", "etc",
               "prod", "staging", "manual", "automatic", "tbd", "ongoing", "blocked"}
PAREN_NAME = re.compile(r"\((?P<o>[A-Za-z][\w.'-]*(?:\s[A-Za-z][\w.'-]*)?)\)")
SELF = re.compile(r"\bI'?ll (?:do|take|handle|own|write|fix|add|look)\b|\bI will\b|^me\s*:|\bme to\b", IC)
PRIORITY = re.compile(r"\b(?P<p>[Pp][0-4])\b|\b(?P<w>urgent|critical|blocker|asap|high(?: priority)?|medium|"
                      r"low(?: priority)?|nice[- ]to[- ]have)\b", IC)
DUE = re.compile(
    rf"\bdue(?:\s+date)?\s*[:\s]\s*(?P<d1>\d{{4}}-\d{{2}}-\d{{2}}|{MONTHS}\.?\s+\d{{1,2}}|\d{{1,2}}\s+{MONTHS}|"
    rf"\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?|{_DAY}|today|tomorrow|eod|eow)"
    rf"|\bby\s+(?P<d2>(?:next\s+)?{_DAY}|tomorrow|today|tonight|eod|eow|end of (?:the )?(?:day|week|month|sprint|"
    rf"quarter)|\d{{4}}-\d{{2}}-\d{{2}}|{MONTHS}\.?\s+\d{{1,2}})"
    rf"|\b(?P<d3>today|tomorrow|tonight|next sprint|next week|next month|next quarter|this week|this sprint|"
    rf"end of (?:the )?(?:week|month|quarter)|Q[1-4](?:\s+\d{{4}})?|eow|eom)\b"
    rf"|\b(?P<d4>{_DAY})\b"
    rf"|\b(?P<d5>(?:within|in)\s+\d+\s*(?:h|hrs?|hours?|d|days?)\b(?:\s+(?:from|of)\s+\w+)?|"
    rf"\d+\s*(?:h|hrs?|hours?|d|days?)\s+(?:from|after|of)\s+\w+)"
    rf"|\b(?P<d6>before\s+(?:the\s+)?next\s+(?:release|deploy|sprint|launch|quarter|week|month))\b"
    rf"|(?:[,;]|\s[-–—])\s*(?P<d7>later|someday|eventually|when possible)\s*\.?$", IC)
DONE = re.compile(r"\bdone during\b|\(done\b|\balready done\b", IC)
TODO = re.compile(r"\bTODO\b\s*:?\s*", IC)
SPLIT_LIST = re.compile(r"(?<=\)),\s+|,\s+(?=(?:me|[A-Za-z][\w.-]*):\s)|(?<=[.;])\s+(?=[A-Z])")
_FIELD_KEYS = r"owner|assignee|assigned to|dri|prio(?:rity)?|due(?:\s+date)?|eta|deadline"
FIELD = re.compile(rf"(?P<k>{_FIELD_KEYS})\s*(?:[:=\-–]\s*|\s+)(?P<v>.+)", IC)
FIELD_GROUP = re.compile(r"\[(?P<b>[^\]]+)\]|\((?P<p>[^)]+)\)")
# "Alert on queue depth. Owner: platform-team. Priority: high. Due: 2025-07-10"
FIELD_SENTENCE = re.compile(rf"(?:(?<=[.;,])|(?<=\s[-–—]))\s*\b(?P<k>{_FIELD_KEYS})\s*[:=]\s*"
                            r"(?P<v>[^;,]+?)(?=\s*(?:[.;,](?:\s|$)|\s[-–—]\s|$))", IC)
SEGMENT = re.compile(r"\s+(?:-{1,2}|–|—)\s+")
# The label an item opens with: "AI: ...", "Action item - ...", "TODO(mike): ..." (the name in parentheses owns it).
ITEM_LABEL = re.compile(r"^(?:AI|A\.I\.|action(?:\s+item)?|todo|follow[- ]?up|task)\b(?:\s*\((?P<o>[^)]+)\))?\s*"
                        r"(?::|\s[-–—]|-{1,2}\s)\s*", IC)
LABELLED_OWNER = re.compile(r"^(?P<o>@?[\w.'-]+(?:\s[A-Z][\w.'-]+)?)\s*(?::|\s[-–—]|\s-{2})\s+")
# "Ravi will write ...", "Mike is going to add ...", "Mike and Sara to pair on ...": the subject owns the action.
_SUBJECT = r"(?P<o>[A-Za-z][\w'-]+(?:\s+[A-Z][\w'-]+)?(?:\s+(?:and|&)\s+[A-Za-z][\w'-]+)?)"
SUBJECT_WILL = re.compile(rf"^{_SUBJECT}\s+(?:will|'ll|is going to|are going to|is to|are to|to)\s+"
                          r"(?!(?:be|have|get|need|still|now|not|no|also|make sure)\b)(?=[a-z])")
# Verbs that open an action and take "to" ("move to v2", "upgrade to pg16"): never an owner before "to".
TO_VERBS = {"move", "switch", "migrate", "upgrade", "downgrade", "pin", "default", "fallback", "revert", "point",
            "subscribe", "talk", "reach", "send", "redirect", "limit", "change", "lock", "bump", "raise", "increase",
            "reduce", "reply", "respond", "link", "push", "return", "roll", "apply", "attach", "post", "escalate",
            "commit", "agree", "need", "needs", "want", "plan", "ability", "way", "able", "unable", "going", "due",
            "back", "up", "down", "access", "tell", "explain", "report", "write", "email", "listen", "admit", "adapt"}


@dataclass
class Item:
    text: str
    owner: str | None
    priority: str | None
    due_text: str | None
    due_on: date | None
    done: bool
    line: Line


@dataclass
class People:
    """Who the notes name, so "Kenji alert on ..." and "me:" can be resolved."""

    names: dict[str, str]  # lowercase first name or handle -> the name as written
    writer: str | None


def people(lines: list[Line], notes: str) -> People:
    names: dict[str, str] = {}
    for line in lines:
        if line.speaker:
            names.setdefault(line.speaker.split()[0].lower(), line.speaker)
    writer = None
    for pattern in (r"^from:\s*(?P<w>[^<\n]+?)\s*(?:<[^>]*>)?\s*$",
                    r"\bauthor:\s*(?P<w>[A-Z][\w'-]+(?:\s[A-Z][\w'-]+)?)", r"\bmy notes \((?P<w>[^)]+)\)"):
        m = re.search(pattern, notes, IC | re.MULTILINE)
        if m:
            writer = m["w"].strip()
            break
    if writer is None:
        tail = [line.text for line in lines[-2:]]
        if tail and re.fullmatch(r"[A-Z][\w'-]+", tail[-1]) and len(tail) > 1 and tail[-2].endswith(","):
            writer = tail[-1]  # "Cheers,\nElif"
    if writer:
        names.setdefault(writer.split()[0].lower(), writer)
    return People(names=names, writer=writer)


def items(lines: list[Line], day: date, who: People, day_first: bool = True) -> list[Item]:
    found: list[Item] = []
    listed = [line for line in lines if line.in_actions]
    has_bullets = any(line.bullet or line.cells for line in listed)
    for line in listed:
        if line.extra.get("columns") or line.extra.get("separator"):
            continue
        if line.cells is not None:
            found += _row(line, day, day_first)
        elif (line.bullet or not has_bullets) and _looks_like_item(line.text):
            found.append(_item(line.text, line, day, who, day_first))
    for line in lines:
        if line.in_actions or line.header:
            continue
        for handed in DELEGATED.finditer(line.text):
            what = re.sub(r"^(?:own|take|handle|drive)\s+", "", handed["what"].strip(), flags=IC)
            due_text, due_on = _due(what, day, day_first)
            if due_text:
                what = what.replace(due_text, " ")
            priority = PRIORITY.search(what)
            found.append(Item(text=_tidy(what), owner=handed["o"], priority=_priority(priority) if priority else None,
                              due_text=due_text, due_on=due_on, done=False, line=line))
        for chunk in _inline_lists(line.text):
            found += [_item(part, line, day, who, day_first) for part in _parts(chunk)]
    unique: dict[str, Item] = {}
    for item in found:
        if item.text:
            unique.setdefault(item.text.lower(), item)
    return list(unique.values())


# Follow-up work said in conversation once the impact is over: "we need a tcpdump next time it happens. i'll
# write a script for that" (the speaker owns what they say they will do).
NEED = re.compile(r"\b(?:we|i|someone|somebody|you)\s+(?:really\s+|still\s+|definitely\s+)?(?:need|needs|should|must|"
                  r"have to|ought to)(?:\s+to)?\s+(?P<what>[^.;!?]+)", IC)
WILL_DO = re.compile(r"\bi(?:'ll| will)\s+(?:write|add|fix|set up|create|build|file|open|update|document|automate|"
                     r"script|look into|follow up|own|take)\b", IC)


def said(lines: list[Line], after: set[int], day: date, day_first: bool = True) -> list[Item]:
    """Follow-ups said in lines from `after` (ids of lines at or past the end of impact) or in untimed prose, when
    the notes list none."""
    found = []
    for line in lines:
        if line.header or line.heading is not None or line.text.rstrip().endswith("?"):
            continue
        if line.lead is not None and id(line) not in after:
            continue
        for m in NEED.finditer(line.text):
            what = m["what"].strip()
            mine = m.group(0).lower().startswith("i ") or bool(WILL_DO.search(line.text))
            due_text, due_on = _due(what, day, day_first)
            found.append(Item(text=_tidy(what), owner=line.speaker if mine else None, priority=None,
                              due_text=due_text, due_on=due_on, done=False, line=line))
    return found


def _looks_like_item(text: str) -> bool:
    words = text.split()
    return len(words) >= 2 and not (text.rstrip().endswith(",") or ("?" in text and not _owner_marked(text)))


def _owner_marked(text: str) -> bool:
    return any(p.search(text) for p in OWNER_MARKS)


def _inline_lists(text: str) -> list[str]:
    """"TODO kim: ... TODO ops: ...", "action items: Kenji ..., me: ..." inside a line."""
    chunks = []
    marks = list(TODO.finditer(text))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        chunks.append(text[m.end():end].strip(" ."))
    listed = re.search(r"\b(?:action items?|follow[- ]?ups?|next steps|AIs)\s*:\s*(?P<rest>.+)$", text, IC)
    if listed and not marks:
        chunks.append(listed["rest"])
    return [c for c in chunks if c]


def _parts(text: str) -> list[str]:
    return [p.strip(" .,") for p in SPLIT_LIST.split(text) if p.strip(" .,")]


def _row(line: Line, day: date, day_first: bool) -> list[Item]:
    columns = line.extra
    text = next((v for k, v in columns.items() if re.search(r"action|item|task|what|description", k, IC)), None)
    if not text:
        return []
    owner = next((v for k, v in columns.items() if re.search(r"owner|who|assignee|assigned", k, IC)), None)
    priority = next((v for k, v in columns.items() if re.search(r"prio", k, IC)), None)
    due = next((v for k, v in columns.items() if re.search(r"due|when|date", k, IC)), None)
    due_text, due_on = (due, _due_date(due.lower(), day, day_first)) if due else (None, None)
    return [Item(text=_tidy(text), owner=_name(owner) if owner and not NO_OWNER.fullmatch(owner) else None,
                 priority=priority or None, due_text=due_text, due_on=due_on, done=False, line=line)]


def _item(text: str, line: Line, day: date, who: People, day_first: bool = True) -> Item:
    label = ITEM_LABEL.match(text)
    label_owner = _name(label["o"]) if label and label["o"] else None
    body = text[label.end():] if label else text
    fields, body = _fields(body)
    if "owner" in fields:
        given = fields["owner"]
        owner, rest = (None if NO_OWNER.fullmatch(f"owner: {given}") else _name(given)), body
    elif label_owner:
        owner, rest = label_owner, body
    elif label and (named := LABELLED_OWNER.match(body)) and named["o"].lower() not in NOT_NAMES | TO_VERBS:
        owner, rest = _name(named["o"]), body[named.end():]  # "AI: priya - add a probe": the name, then the action
    else:
        owner, rest = _owner(body, line, who)
    priority = PRIORITY.search(fields.get("priority", "")) or PRIORITY.search(text)
    due_text, due_on = _due(fields["due"], day, day_first) if "due" in fields else _due(text, day, day_first)
    if due_text:
        rest = re.sub(rf"[,\s]*\(?{re.escape(due_text)}\)?(?:\s+please)?\s*[.,]?\s*$", "", rest, flags=IC)
    return Item(text=_tidy(rest), owner=owner, priority=_priority(priority) if priority else None,
                due_text=due_text, due_on=due_on, done=bool(line.checked) or bool(DONE.search(text)), line=line)


def _fields(text: str) -> tuple[dict[str, str], str]:
    """Owner, priority and due date written as fields: a bracket or parenthesis made only of them
    ("[P1] [owner: mia]", "(Owner: Tom Lee, P2, due next sprint)"), or "Owner: x. Priority: high. Due: ..."
    sentences. Returns them and the text without them."""
    found: dict[str, str] = {}
    for group in list(FIELD_GROUP.finditer(text)):
        parts = [p.strip() for p in re.split(r"[,;]", group["b"] or group["p"]) if p.strip()]
        got = [_field(part) for part in parts]
        unnamed = [i for i, g in enumerate(got) if g is None]
        if len(unnamed) == 1 and len(parts) > 1 and _team_or_name(parts[unnamed[0]]):
            got[unnamed[0]] = ("owner", parts[unnamed[0]])  # "(POS team, by end of month)": the name among fields
        if got and all(got):
            for key, value in (g for g in got if g):
                found.setdefault(key, value)
            text = text.replace(group.group(0), " ", 1)
    for m in list(FIELD_SENTENCE.finditer(text)):
        key = _field_key(m["k"])
        if key not in found:
            found[key] = m["v"].strip() if key != "due" else f"{m['k']}: {m['v'].strip()}"
            text = text.replace(m.group(0), " ", 1)
    return found, " ".join(text.split())


def _field(part: str) -> tuple[str, str] | None:
    labelled_part = FIELD.fullmatch(part)
    if labelled_part:
        key = _field_key(labelled_part["k"])
        return key, part if key == "due" else labelled_part["v"].strip()
    if PRIORITY.fullmatch(part):
        return "priority", part
    if DUE.fullmatch(part):
        return "due", part
    return None


TEAM = re.compile(r"@?[\w.-]+(?:\s[\w.-]+)?\s+(?:team|squad|ops|on-?call|guild|crew)", IC)


def _team_or_name(part: str) -> bool:
    """"Aarav", "POS team", "finance ops": who an item can be given to."""
    return _is_name(part) or bool(TEAM.fullmatch(part))


def _field_key(label: str) -> str:
    label = label.lower()
    if label.startswith("prio"):
        return "priority"
    if label.startswith(("due", "eta", "deadline")):
        return "due"
    return "owner"


def _owner(text: str, line: Line, who: People) -> tuple[str | None, str]:
    """The owner and the text without the owner's marker."""
    if NO_OWNER.search(text):
        return None, NO_OWNER.sub("", text)
    for pattern in OWNER_MARKS:
        m = pattern.search(text)
        if m and _name(m["o"]):
            rest = text[:m.start()] + text[m.end():]
            after = re.match(r"\s+to\s+(?P<rest>.+)$", text[m.end():])
            if pattern.pattern.startswith("(?:->"):  # "<why> -> Comms (Beatriz) to set up ...": the action follows
                rest = after["rest"] if after else text[:m.start()]
            return _name(m["o"]), rest
    me = ME_DASH.match(text)
    if me:  # "me - fix rounding ...": the writer
        return _writer(line, who), text[me.end():]
    colon = NAME_COLON.match(text)
    if colon and colon["o"].lower() not in NOT_NAMES:
        name = colon["o"]
        return (_writer(line, who) if name.lower() == "me" else _name(name)), text[colon.end():]
    for pattern in (NAME_DASH, NAME_TO, LOWER_TO):
        m = pattern.match(text)
        if m and m["o"].split()[0].lower() not in NOT_NAMES | TO_VERBS and (
                pattern is not LOWER_TO or m["o"].lower() in who.names):
            return _name(m["o"]), text[m.end():]
    subject = SUBJECT_WILL.match(text)
    if subject and not any(w.lower() in NOT_NAMES | TO_VERBS for w in re.split(r"\s+(?:and|&)\s+|\s+", subject["o"])):
        return _name(subject["o"]), text[subject.end():]
    segments = SEGMENT.split(text)
    for segment in segments[1:]:
        for token in re.split(r",\s*", segment):
            if _is_name(token):
                return _name(token), segments[0]
    for m in PAREN_NAME.finditer(text):
        if _is_name(m["o"]) or m["o"].lower() in who.names or _handle(m["o"]):
            return _name(m["o"]), text[:m.start()] + text[m.end():]
    first = text.split()[0].lower() if text.split() else ""
    if first in who.names and first not in NOT_NAMES:
        return who.names[first], text.split(None, 1)[1] if len(text.split()) > 1 else text
    if SELF.search(text):
        return _writer(line, who), text
    return None, text


def _writer(line: Line, who: People) -> str | None:
    return line.speaker or who.writer


def _is_name(token: str) -> bool:
    """"Luca", "Maya (CS)", "team-notify lead": a short name, not a priority, a date or a phrase."""
    token = token.strip(" .")
    bare = re.sub(r"\s*\([^)]*\)", "", token)
    words = bare.split()
    if not words or len(words) > 3 or PRIORITY.fullmatch(bare) or DUE.fullmatch(bare) or DATE.fullmatch(bare):
        return False
    return bool(re.fullmatch(r"@?[A-Z][\w'-]*(?:\s[A-Z][\w'-]*)*", bare))


def _handle(token: str) -> bool:
    """"(ken)": one lowercase name in parentheses."""
    return bool(re.fullmatch(r"[a-z][a-z.'-]{1,20}", token)) and token not in NOT_NAMES | NOT_HANDLES and not (
        PRIORITY.fullmatch(token) or DUE.fullmatch(token))


def _name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip().strip(".,;:").strip().removeprefix("@")  # "-> @sam" is owned by sam, as "@sam ..." is
    return name or None


def _priority(m: re.Match[str]) -> str:
    return m["p"].upper() if m["p"] else m["w"].lower()


def _due(text: str, day: date, day_first: bool = True) -> tuple[str | None, date | None]:
    m = DUE.search(text)
    if m is None:
        return None, None
    stated = m.group(0).strip(" ,;-–—")
    value = next(g for g in (m["d1"], m["d2"], m["d3"], m["d4"], m["d5"], m["d6"], m["d7"]) if g)
    return stated, _due_date(value.lower(), day, day_first)


def _due_date(value: str, day: date, day_first: bool = True) -> date | None:
    value = value.removeprefix("next ").strip() if re.match(rf"next {_DAY}", value) else value
    within = re.match(r"(?:(?:within|in)\s+)?(\d+)\s*(h|d)", value)
    if within:  # "within 72h": counted from the incident's day
        amount = int(within.group(1))
        return day + timedelta(days=-(-amount // 24) if within.group(2) == "h" else amount)
    if value in ("today", "tonight", "eod"):
        return day
    if value == "tomorrow":
        return day + timedelta(days=1)
    if re.fullmatch(r"eow|end of (?:the )?week", value):  # the working week's end: its Friday
        return day + timedelta(days=(4 - day.weekday()) % 7)
    if re.fullmatch(r"eom|end of (?:the )?month", value):
        return (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    if value in WEEKDAYS:
        ahead = (WEEKDAYS.index(value) - day.weekday()) % 7 or 7
        return day + timedelta(days=ahead)
    if re.search(r"\d", value):
        try:
            iso = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value))
            return dateparser.parse(value, default=datetime(day.year, day.month, day.day),
                                    dayfirst=day_first and not iso).date()
        except (ValueError, OverflowError):
            return None
    return None


def _tidy(text: str) -> str:
    """The action in plain words: markers of priority, due date and owner dropped from its ends."""
    text = SEGMENT.split(text)[0] if SEGMENT.search(text) else text
    text = re.sub(r"\(\s*(?:P[0-4]|urgent|due|done)[^)]*\)", "", text, flags=IC)
    text = re.sub(r"[,\s]+(?:P[0-4]|urgent|nice to have|today(?: please)?|next sprint)\s*$", "", text, flags=IC)
    text = re.sub(r"^nice to have\s*:\s*", "", text, flags=IC)
    text = re.sub(r"\(\s*\)", "", text)
    text = " ".join(text.split()).strip(" .,;:-–—")
    return (text[:1].upper() + text[1:])[:300]
