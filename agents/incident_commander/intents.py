"""What a question to the commander asks for, by meaning: the first intent whose words it uses, in order.

Each intent lists several ways people ask it (synonyms, stems, common shorthand), so that "tl;dr?", "fill me
in" and "I just joined, what's going on?" all read as a catch-up. The order settles overlaps: "who owns the
rollback?" is about an owner before it is about a rollback; "summarize for execs" is a summary for executives,
not a catch-up.
"""

from __future__ import annotations

import re

from agents.incident_commander.impact_words import terms

DECLARE = re.compile(r"^\s*(?:please\s+)?(?:declare|open|start|raise|create|file)\s+(?:an?\s+|new\s+)*"
                     r"(?:(?P<severity>sev\s?-?\d|p\d)\s+)?(?:incident|inc)(?![\w-])\s*(?:(?:for|about|:|-|–|—)\s*)*"
                     r"(?P<title>.*)$", re.IGNORECASE | re.DOTALL)
SEVERITY_FIRST = re.compile(r"^\s*(?:please\s+)?declare\s+(?:an?\s+)?(?P<severity>sev\s?-?\d|p\d)\s*"
                            r"(?::|-|–|—)?\s*(?P<title>.+)$", re.IGNORECASE | re.DOTALL)

INTENTS: list[tuple[str, re.Pattern[str]]] = [
    ("exec_summary", terms("execs?", "executives?", "exec summary", "vps?", "leadership", "ceo", "cto", "cfo",
                           "c-?level", "c-?suite", "management", "the board", "stakeholders?", "non-?technical",
                           "plain (?:english|words|language)", "(?:something|a blurb|a summary|text) (?:i|we) can "
                           "(?:paste|send|forward|share)", "status email", "summar(?:y|i[sz]e) for", "elevator pitch",
                           "for (?:my|the) (?:boss|manager|director)")),
    ("owner_of", terms("who(?:'s| is| are)? (?:own\\w*|handl\\w*|doing|writing|drafting|taking|working on|"
                       "responsible|assigned|on|got|fixing|running|driving|looking (?:at|into)|tackling)",
                       "who owns", "who has", "who took", "who will", "whose", "owner of", "owned by",
                       "who'?s got")),
    ("action_items", terms("action ?items?", "ais", "follow-?ups?", "follow ups?", "todos?", "to-?dos?", "tasks?",
                           "tickets?", "remediation items?", "open items?", "work items?", "owners")),
    ("acknowledgement", terms("ack\\w*", "acknowledg\\w*", "picked up the (?:page|alert)", "anyone on (?:it|this)",
                              "responded to the page", "answered the page")),
    ("resolution_status", terms("fixed", "resolved", "are we good", "we good", "all good", "is it over", "over yet",
                                "back (?:up|to normal|online)", "recovered", "recovering", "stopped", "mitigated",
                                "working again", "all clear", "still (?:down|broken|happening|leaking|ongoing|"
                                "failing|an issue|a problem|bad)", "is it done", "closed", "(?:is|are) (?:it|we) "
                                "(?:ok|okay|fine|done)", "healthy", "stable", "still (?:affected|impacted|seeing|"
                                "getting|hitting|happening|ongoing|going on|erroring|there)",
                                "fix(?:es)? (?:work\\w*|help\\w*|land\\w*|hold\\w*|stick\\w*)",
                                "did (?:it|that|this|the \\w+) (?:work|help|fix)", "gone", "go(?:ne)? away",
                                "went away",
                                "close (?:this|it|the incident)", "ready to close", "out of the woods", "in the clear",
                                "under control", "contained", "over with", "(?:are )?we back", "is it back",
                                "(?:is|are) (?:it|we|prod|production|things|everything|the site|the app|\\w+) "
                                "(?:ok|okay|fine|good|up|working|healthy)(?: now| again)?",
                                # be + the incident + a finished state: "is this over?", "is that sorted?"
                                "(?:is|are|was) (?:it|this|that|the (?:incident|outage|issue|problem)|we|things) "
                                "(?:all |now |finally |fully )?(?:over|done|finished|sorted|solved|behind us|better|"
                                "back|fixed|resolved)")),
    ("duration", terms("how long", "duration", "since when", "when did (?:it|this|the \\w+) (?:start|begin)",
                       "how much time", "been going on", "how many (?:minutes|hours)", "elapsed", "started when",
                       "what time did (?:it|this) start", "time since",
                       "(?:did|does) (?:the )?(?:impact|it|this|outage|incident|problem|issue|trouble) (?:start|begin)",
                       "start(?:ed)? time", "began", "kicked off", "how old", "age of", "open for")),
    ("what_changed", terms("what changed", "changes?", "changed", "deploy\\w*", "releas\\w*", "roll ?outs?",
                           "rolled out", "shipped", "pushed", "config\\w*", "flags?", "feature flags?", "migrations?",
                           "merged", "prs?", "pull requests?", "commits?", "upgrades?", "what's new",
                           # A version is a change when it is new or moved, not in "the short version".
                           "(?:new|which|what|last|previous|older|bad|current) versions?",
                           "versions? (?:changed|bump\\w*|deployed|released|went out|shipped)",
                           # Going out, in the verbs people use: "did anything go out today?", "anything ship?"
                           "go(?:es)? out", "went out", "gone out", "going out", "ship", "ships", "went live",
                           "gone live", "go live", "goes live",
                           "touched", "different", "differences?", "diffs?", "flipp\\w*", "toggl\\w*", "bumped")),
    ("next_update", terms("next update", "update (?:is )?due", "when (?:is|'s) the (?:next )?update", "cadence",
                          "overdue", "when (?:do|should) (?:we|i) (?:post|update|send)")),
    ("next_steps", terms("next steps?", "what (?:should|do|can|must|shall) (?:i|we) do", "what now", "now what",
                         "waiting (?:on|for)", "blocked (?:on|by)", "pending", "what'?s next", "what next",
                         "how can i help", "what needs (?:doing|to be done|to happen)", "what'?s left",
                         "outstanding", "can i help", "where can i help", "what to do", "to do next", "remaining",
                         "next actions?", "being done", "what are we doing", "the plan", "plan", "need to do",
                         "pick (?:up|something)", "happen next", "(?:do|try|tackle) next", "take on", "help out",
                         "(?:i|we) (?:should|could|can) (?:do|try|check)", "need from me", "go from here", "proceed",
                         "what do (?:we|you|i) need", "how do we fix", "block(?:ing|ers?)", "(?:can|could) i take",
                         "anything (?:i|we) (?:can|could|should) (?:do|take|help|pick)")),
    ("catch_up", terms("catch(?: me)? ?up", "just joined", "tl;? ?dr", "what(?:'?s| is| are) (?:going on|happening)",
                       "what happened", "fill me in", "up to speed", "recap", "so far", "where are we",
                       "what did i miss", "backstory", "context", "brief me", "rundown", "run down", "overview",
                       "summary", "summari[sz]e", "what'?s the story", "the gist", "walk me through", "sitrep",
                       "what'?s up", "lowdown", "situation", "the deal", "the scoop", "been tried", "tried so far",
                       "late to (?:the party|this)", "explain", "(?:short|quick|brief|one-?line) version",
                       "in a nutshell", "(?:should|need to) know", "eli5",
                       "what (?:have|did) (?:we|you|they) (?:find|found|learn\\w*)")),
    ("affected_service", terms("which (?:service|system|component|app|apps|services|systems|api)",
                               "what (?:service|system|component|app|api)", "affected (?:service|system|component)",
                               "(?:service|system|component)s? (?:is |are )?(?:affected|impacted|down|broken)",
                               "what'?s (?:broken|down|affected)", "what is (?:broken|down|affected)")),
    ("impact", terms("how many", "impact\\w*", "how bad", "affected", "hit", "revenue", "money", "blast radius",
                     "widespread", "how much", "%", "percent\\w*", "share of", "proportion", "fail(?:ure)? rate",
                     "regions?", "where", "error rates?", "scope", "customers?", "users?", "severe")),
    ("role_holder", terms("who", "ic", "commander", "roles?", "comms", "communications", "scribe", "in charge",
                          "leading", "sme", "experts?")),
    ("status", terms("status", "state", "update", "progress", "severity", "sev\\d?", "report", "latest", "news",
                     "how (?:is|are) (?:it|things|we)", "incidents?", "open", "inc-\\S+")),
]

# Roles as people name them, to the configured role name.
ROLE_WORDS: list[tuple[re.Pattern[str], str]] = [
    (terms("ic", "incident commander", "commander", "in charge", "leading", "lead", "running (?:this|it)"),
     "Incident Commander"),
    (terms("comms", "communications?", "stakeholder updates?", "status updates?", "updates"), "Communications"),
    (terms("scribe", "note ?taker", "notes", "taking notes", "timeline"), "Scribe"),
    (terms("sme", "subject (?:matter )?experts?", "experts?"), "Subject Expert"),
    (terms("postmortem owner", "postmortem", "post-mortem", "write ?-?up", "retro"), "Postmortem Owner"),
]


def intent(question: str) -> str | None:
    """The commander intent a question asks for, or None when it asks nothing the commander answers."""
    return next((name for name, pattern in INTENTS if pattern.search(question)), None)


def role_named(question: str) -> str | None:
    return next((role for pattern, role in ROLE_WORDS if pattern.search(question)), None)
