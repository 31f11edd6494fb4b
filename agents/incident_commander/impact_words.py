"""The vocabulary severity is assessed with: what people write about each kind of impact.

Words are grouped by meaning (what was exposed, what failed, who is affected), written as stems (`leak*` is
leak, leaked, leaks, leaking) so that wording nobody wrote down still matches; the rules in `severity` combine
the groups ("a credential" near "exposed" is a leak). Matching is case-insensitive and on word boundaries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NEGATION = re.compile(r"\b(?:no|not|without|never|zero|isn't|aren't|wasn't|weren't|didn't|don't|doesn't|nor)"
                      r"\W+(?:\w+\W+){0,2}$|\bnon-$", re.IGNORECASE)


def _fragment(word: str) -> str:
    """`leak*` → leak\\w*; a space matches spaces or hyphens (` ?`: or none); the rest is a regex fragment."""
    if word.endswith("*") and not word.endswith((r"\w*", ")*", "]*")):
        word = word[:-1] + r"\w*"
    return word.replace(" ?", r"[\s-]*").replace(" ", r"[\s-]+")


def terms(*words: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])(?:" + "|".join(_fragment(w) for w in words) + r")(?![\w])", re.IGNORECASE)


def extend(pattern: re.Pattern[str], extra: Iterable[str]) -> re.Pattern[str]:
    """A group with a team's own words added (configured keywords are literal words, not patterns)."""
    words = [re.escape(w.strip()).replace(r"\ ", " ") for w in extra if w.strip()]
    if not words:
        return pattern
    return re.compile(pattern.pattern[:-len(r")(?![\w])")] + "|" + "|".join(_fragment(w) for w in words)
                      + r")(?![\w])", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    words: str


def find(pattern: re.Pattern[str], text: str, negatable: bool = True) -> list[Found]:
    """Every match, without those negated by the few words before it ("no data loss", "not down")."""
    found = []
    for match in pattern.finditer(text):
        if negatable and NEGATION.search(text[max(0, match.start() - 30):match.start()]):
            continue
        found.append(Found(match.start(), match.end(), " ".join(match.group(0).split())))
    return found


def first(pattern: re.Pattern[str], text: str, negatable: bool = True) -> Found | None:
    hits = find(pattern, text, negatable)
    return hits[0] if hits else None


def near(subject: re.Pattern[str], symptom: re.Pattern[str], text: str, window: int = 4) -> Found | None:
    """The first place where a subject and a symptom occur within `window` words of each other, in either order.

    Only the symptom can be negated: in "merchants not receiving settlements" the "not" belongs to the failure.
    """
    for x in find(subject, text, negatable=False):
        for y in find(symptom, text):
            if x.start < y.end and y.start < x.end:
                continue  # the same words
            left, right = (x, y) if x.start < y.start else (y, x)
            if len(text[left.end:right.start].split()) <= window:
                return Found(left.start, right.end, " ".join(text[left.start:right.end].split()))
    return None


# --- security: customer data exposure, leaked credentials, intrusion -------------------------------------------

INTRUSION = terms("breach*", "compromis*", "intrusion*", "intruder*", "hack*", "unauthori[sz]ed", "ransom*",
                  "malware", "backdoor*", "exfiltrat*", "account takeover*", "brute forc*", "credential stuffing",
                  "crypto ?min(?:er|ing)", "cryptojack*", "rootkit*", "data theft", "attack\\w*", "stolen",
                  "impersonat*", "privilege escalation", "phish\\w*", "spoof\\w*", "\\w*injection", "exploit\\w*",
                  "xss",
                  "csrf", "rce", "zero ?days?", "fraud\\w*", "fake (?:signups?|accounts?|login pages?)", "skimm\\w*",
                  "botnets?", "scrap(?:ed|ing) (?:customer|user) data")
# Someone saying it is not a breach ("not a security incident: phishing email reported") is believed.
SECURITY_DENIED = terms("not (?:a |an )?(?:security )?(?:breach|incident|compromise|hack|attack|issue)",
                        "no (?:breach|compromise|intrusion|data exposed)", "false (?:alarm|positive)")
LOGIN = terms("log ?ins?", "logged", "logging in", "sign ?ins?", "signed in", "signing in", "sessions?", "access*",
              "connections? from", "ssh(?:ed)?")
# Where a login came from, said as strange: "from unknown ip", "from a new country", "from a tor exit node".
STRANGE_ORIGIN = terms("from (?:an? )?(?:unknown|unrecogni[sz]ed|foreign|suspicious|unfamiliar|new|strange|odd|weird|"
                       "unexpected|tor|external|outside) (?:ips?|ip address\\w*|address\\w*|countr\\w*|locations?|"
                       "asns?|"
                       "devices?|hosts?|networks?|geos?|regions?|exit nodes?|machines?)",
                       "from (?:a )?tor exit nodes?")
STRANGER = terms("unknown", "unrecogni[sz]ed", "suspicious", "unfamiliar", "foreign", "outside", "outsiders?",
                 "external", "rogue", "someone else", "attackers?")
NOT_A_STRANGER = terms("errors?", "issues?", "problems?", "bugs?", "failures?", "redirects?", "behaviou?r",
                       "timeouts?", "responses?", "status", "page", "screen")  # "unknown error on login"
NOT_DATA = terms("connect\\w*", "connectivity", "quorum", "leader\\w*", "power", "network", "access", "contact",
                 "track", "sync", "packets?", "visibility", "signal")  # "lost connection to the db" loses no data
FAILURE = terms("fail*", "errors?", "erroring", "5\\d\\ds?", "5xx", "timing out", "timeouts?", "broken", "rejected",
                "refus\\w*", "down", "[45]\\d\\ds?", "empty", "blank", "missing")
# Failing requests, as opposed to a page showing nothing: with "for everyone" this is an outage, not a degradation.
HARD_FAILURE = terms("fail*", "errors?", "erroring", "5\\d\\ds?", "5xx", "timing out", "timeouts?", "broken",
                     "rejected", "refus\\w*", "down", "[45]\\d\\ds?")
CREDENTIAL = terms("credentials?", "creds", "secrets?", "passwords?", "passwds?", "passphrases?", "api ?keys?",
                   "access keys?", "root keys?", "private keys?", "ssh keys?", "signing keys?", "keys", "tokens?",
                   "session cookies?", "certificates? private", "service account json", "\\.env")
EXPOSED = terms("leak*", "expos*", "printed",
                # Put where anyone with log access reads it; not merely mentioned next to a log.
                "(?:printed|dumped|written|showing up|appearing|ending up|stored|logged) (?:in|to|into) (?:the )?"
                "(?:[\\w-]+ ){0,2}(?:logs?|stdout|console)",
                "visible", "public*", "github", "gitlab", "pastebin", "plain ?text", "clear ?text",
                "in (?:the )?(?:app |application |server )?logs?", "showing up", "shows? up", "committed", "pushed",
                "posted", "published", "dump*", "page source", "in the url", "world readable", "unencrypted",
                "stolen", "readable by", "shared with", "in (?:error )?(?:messages?|responses?|urls?|emails?|exports?|"
                "screenshots?|analytics|crash reports?)", "emailed to", "exposure")
OTHER_PARTY = terms("(?:user|customer|tenant|account|org) [a-z](?:'s)?",  # "user A can view user B's orders"
                    "other (?:customers?|users?|tenants?|orgs?|organi[sz]ations?|accounts?|companies|merchants?|"
                    "clients?|people|workspaces?|teams?)(?:'s?)?",
                    "another (?:customer|user|tenant|org|organi[sz]ation|account|company|merchant|client)(?:'s)?",
                    "wrong (?:customers?|users?|tenants?|accounts?|person|people|recipients?|orgs?)",
                    "someone else(?:'s)?", "cross ?tenant", "each others?'?", "strangers?(?:')?",
                    "between (?:accounts|users|tenants|customers|orgs|organi[sz]ations|sessions|workspaces)")
SEES_DATA = terms("see*", "seeing", "shows?", "showing", "shown", "visible", "returns?", "returning", "emailed",
                  "sent", "includes?", "including", "got", "gets", "receiv*", "access*", "view*", "leak*", "data",
                  "rows?", "records?", "invoices?", "docs?", "documents?", "files?", "exports?", "orders?",
                  "details", "emails?", "messages?", "profiles?", "addresses", "photos?", "reports?", "results?")
EXPOSED_PLACE = terms("public", "publicly \\w+", "world readable", "open to the (?:internet|world)", "exposed",
                      "exposure", "leak*", "unauthenticated", "(?:no|without) auth\\w*", "indexed by google",
                      "anyone (?:can|could) (?:see|read|download|access)")
PERSONAL_DATA = terms("pii", "personal (?:data|info\\w*|details)", "customer (?:data|records|details|info\\w*)",
                      # What identifies a person, whoever it belongs to: "customer emails exposed", "phone numbers".
                      "(?:customer|user|client|member|patient|employee|buyer|seller)s?'? (?:e-?mails?|email addresses|"
                      "addresses|phone numbers?|names|profiles?|documents?|messages|ids?|id documents?)",
                      "e-?mail addresses", "phone numbers?", "ip addresses of (?:customers|users)",
                      "user (?:data|records|details)", "ssns?", "social security", "card numbers?",
                      "credit cards? (?:numbers?|data|details)", "medical", "health (?:records?|data)", "gdpr",
                      "passports?", "home address\\w*", "dates? of birth", "phi")

# --- data loss -------------------------------------------------------------------------------------------------

DIRECT_LOSS = terms("data loss", "data corruption", "corrupt(?:ed|ion)? data", "lost data", "data (?:was |were |"
                    "has been |got )?(?:lost|deleted|wiped|corrupted|destroyed)")
LOSS = terms("reset to (?:the )?defaults?", "reverted to (?:the )?defaults?", "lost", "lose", "losing", "loss",
             "delet*", "wiped?", "wiping", "dropped", "truncat*", "corrupt*",
             "purg*", "overwr(?:i|o)t\\w*", "destroy*", "erased?", "vanish*", "disappear*", "gone", "data loss")
DATA_STORE = terms("data", "writes?", "db", "dbs", "databases?", "tables?", "buckets?", "uploads?", "files?",
                   "records?", "rows?", "s3", "volumes?", "disks?", "messages?", "orders?", "documents?", "photos?",
                   "attachments?", "accounts?", "history", "transactions?", "ledgers?", "blobs?", "objects?",
                   "snapshots?", "partitions?", "index(?:es)?", "collections?", "schemas?", "entries", "events",
                   "submissions?", "carts?", "backups?", "warehouse", "data ?lake",
                   "storage", "bigquery", "redshift", "snowflake", "logs?", "addresses", "profiles?", "settings",
                   "preferences", "contacts?", "playlists?", "wishlists?", "drafts?", "projects?", "workspaces?",
                   "content", "libraries", "library", "notes", "comments?", "posts?")
# A store whose things can be missing: "files missing" is lost data; "index missing" is not.
STORED_THINGS = terms("data", "records?", "rows?", "logs?", "audit logs?", "events", "messages?", "files?", "uploads?",
                      "photos?", "images?", "documents?", "transactions?", "entries", "history", "backups?", "emails?",
                      "attachments?", "submissions?", "notes", "comments?", "posts?")
# Records that are no longer there. "Empty" is left out: it says what a page shows ("order history empty"), which a
# display fault causes as often as a loss.
GONE = terms("missing", "gone", "disappeared", "vanished", "gaps?")

# --- payments and money movement -------------------------------------------------------------------------------

MONEY = terms("payments?", "pay", "paying", "paid", "payouts?", "checkouts?", "charg(?:e|es|ed|ing)",
              "billing", "billed", "bills?", "invoic\\w*", "refunds?", "refunded", "transactions?",
              "credit cards?", "card payments?", "stripe", "paypal", "adyen", "braintree", "klarna", "amex",
              "visa", "mastercard", "wires?", "ach", "sepa", "transfers?", "settlements?", "ledgers?",
              "wallets?", "subscriptions?", "renewals?", "purchases?", "orders?", "money", "funds",
              "top ?ups?", "deposits?", "gift ?cards?", "vouchers?", "coupons?", "promo codes?",
              "store credits?", "loyalty points", "3ds", "taxe?s?", "vat", "premium", "withdrawals?", "remittances?",
              "payment gateway", "psp", "payroll")
MONEY_FAILS = terms("fail*", "declin*", "stuck", "pending", "not (?:going out|sent|processed|processing|working|"
                    "arriving|received|paid|settling|going through|completing)", "never (?:sent|arrived|processed)",
                    "errors?", "erroring", "broken", "down", "5\\d\\ds?", "5xx", "double\\w*", "twice", "duplicat*",
                    "overcharg*", "wrong amounts?", "incorrect amounts?", "rejected", "bounc*", "can't", "cannot",
                    "unable to", "timeouts?", "timing out", "halted", "blocked", "frozen", "on hold", "unpaid",
                    "lost", "hang\\w*", "freez\\w*", "spinn\\w*", "not (?:being |getting )?\\w+(?:ed|ing)",
                    "can't be \\w+", "cannot be \\w+", "out of sync", "mismatch\\w*", "discrepanc\\w*",
                    "not reconcil\\w*",
                    "reconciliation (?:fail\\w*|broken|off)")
MISPRICED = terms("(?:calculated|charged|billed|priced|computed|applied) (?:wrong\\w*|incorrect\\w*)",
                  "wrong (?:tax|vat|totals?|currency conversion)", "incorrect (?:tax|vat|totals?)")
MONEY_LATE = terms("delayed", "late", "held up", "behind")  # right after the money: "payouts delayed"
# Money moving to someone: late is a payments incident even a few words on ("payouts to sellers delayed 2 days").
MONEY_MOVEMENT = terms("payouts?", "transfers?", "settlements?", "refunds?", "deposits?", "wires?", "withdrawals?",
                       "remittances?", "payroll", "disbursements?", "reimbursements?")
WRONGFUL_CHARGE = terms("charged (?:in |with |at )?(?:the )?(?:wrong|incorrect)\\w*",
                        "double ?charg\\w*", "charg\\w* twice", "overcharg*", "duplicate charges?",
                        "charged (?:the )?wrong", "wrong amounts?", "incorrect amounts?", "billed twice")

# --- outage and degradation of a customer-facing service -------------------------------------------------------

DOWN = terms("down", "outage", "offline", "unreachable", "unavailable", "inaccessible",
             "not (?:resolving|loading|responding|reachable|available|accessible|opening|starting|working)",
             "won't (?:load|open|start|resolve)", "unresponsive", "dead", "refus\\w+ connections",
             "connection refused", "broken", "blank (?:page|screen)", "white screen", "nxdomain", "servfail",
             "(?:cert|certificate|ssl|tls)s? (?:has |have )?expired", "expired (?:cert|certificate|ssl|tls)s?",
             "at all", "completely broken", "totally broken", "gone dark", "bad gateway", "service unavailable",
             "gateway time ?out",
             "stuck on (?:the )?(?:splash|loading|launch|start|login|white|blank) ?(?:screen|page)?",
             "(?:redirect|login|crash|boot|reload) ?loops?", "infinite (?:loading|spinner|loop|redirect)\\w*",
             "spinner forever", "forever", "crash ?loop\\w*", "crashloopbackoff")
NOBODY = terms("nobody", "no ?one", "no users?", "no customers?", "none of (?:our|the) (?:users|customers)")
CERTIFICATE = terms("certs?", "certificates?", "ssl", "tls", "domains?")
EXPIRED = terms("expired", "expir\\w*", "invalid", "revoked", "lapsed")
CANT = terms("can't", "cant", "cannot", "can not", "unable to", "couldn't", "not able to")
USE = terms("log ?in", "login", "sign ?in", "sign ?up", "access", "reach", "connect", "load", "open", "use",
            "check ?out", "stream", "upload", "download", "search", "send", "see", "view", "place orders?", "book",
            "authenticat\\w*", "get in", "register", "create (?:an )?accounts?", "subscribe", "join", "enroll",
            "onboard", "play", "watch", "stream", "order")
FULL = terms("(?:full|total|complete|major|global|site ?wide|platform ?wide|widespread|company ?wide|hard) "
             "(?:outage|down|downtime|failure)", "everything (?:is )?down",
             "(?:completely|totally|entirely|fully) (?:down|offline|broken|unavailable|dead)")
WHOLE_PRODUCT = terms("site", "website", "web ?site", "platform", "production", "prod", "everything",
                      "all services", "(?:whole|entire) \\w+", "public api", "dns", "domains?", "cdn",
                      "load ?balancers?", "ingress", "front ?door", "home ?page", "the product", "the app",
                      "our app")
BROAD = terms("all (?:users|customers|regions|requests|traffic|tenants|merchants|accounts|transactions|payments|"
              "orders|checkouts|calls|endpoints|pages|services|clients|sellers|buyers|assets|images|files|apis|sites|"
              "devices|platforms|browsers|queries|searches|logins|uploads|downloads|pods|nodes|instances|servers|"
              "hosts|replicas|workers|containers)",
              "every(?:one|body)", "every (?:user|customer|request|region|page|call|endpoint|tenant)",
              "nobody", "no ?one", "globally", "worldwide", "site ?wide", "across (?:all )?regions",
              "for everything", "entirely", "all of (?:them|prod|production)",
              "100 ?% of (?:users|customers|requests|traffic|calls)")
REGIONAL = terms("apac", "emea", "latam", "(?:eu|us|ap|sa|ca|me|af)-[a-z]+(?:-\\d)?",
                 "one region", "a single region", "(?:eu|us|uk|european|american|asian|german|french|japanese|"
                 "australian|indian|canadian|brazilian) (?:customers|users)", "in (?:the )?(?:eu|us|uk|asia)")
PARTIAL = terms("some", "a few", "few", "intermittent\\w*", "partial\\w*", "sporadic\\w*", "occasional\\w*",
                "subset", "small (?:number|percentage|fraction|share)", "~? ?(?:1?\\d|0)(?:\\.\\d+)? ?%",
                "certain", "flaky", "flapping", "one in \\d+", "on and off", "now and then", "sometimes",
                "randomly")
# An internal tool that is only slower than usual: nobody is blocked.
ONLY_SLOW = terms("slow*", "laggy", "lagging", "sluggish", "latenc*", "taking (?:long|forever|ages)")
STOPPED = terms("down", "broken", "fail*", "errors?", "can't", "cannot", "unable", "outage", "offline", "stuck",
                "blocked", "not \\w+ing", "crash*", "unreachable", "unavailable", "dead", "full", "out of \\w+")
MAJOR_SHARE = terms("~? ?[3-9]\\d(?:\\.\\d+)? ?%", "most (?:users|customers|requests|traffic|calls|people)",
                    "(?:half|majority) of (?:the |our )?(?:users|customers|requests|traffic|calls)", "majority")
SINGLE = terms("(?:a|one|single|specific|individual|1|a single) (?:customer|user|tenant|account|merchant|client|"
               "org|organi[sz]ation|seller|buyer|shop|store)")
DEGRADED = terms("slow*", "latenc*", "lag", "lags", "lagging", "laggy", "delay*", "taking (?:long|forever|ages)",
                 "timeouts?", "timing out", "times? out", "degrad*", "elevated", "high (?:cpu|memory|load|errors?)",
                 "error ?rates?", "errors?", "erroring", "5\\d\\ds?", "5xx", "crash*", "hang(?:s|ing)?", "freez*",
                 "backlog*", "queu(?:e|es|ed|ing)", "stale", "out of date", "spik*", "throttl*", "rate limit\\w*",
                 "not (?:arriving|received|delivered|updating|syncing|refreshing|sending|showing|loading)",
                 "missing", "fail*", "broken", "exhaust*", "disk full", "out of (?:memory|disk|space)", "oom\\w*",
                 "memory leak*", "packet loss", "stuck", "glitch\\w*", "retries", "retrying", "flaky", "bugs?",
                 "buggy", "issues?", "problems?", "wonky", "sluggish", "buffer\\w*", "stutter\\w*", "choppy",
                 "jitter\\w*",
                 "dropp(?:ed|ing) (?:calls|frames|connections|messages)", "disconnect\\w*", "flicker\\w*", "spam",
                 "bounc\\w*", "undeliver\\w*", "rejected", "twice", "duplicat\\w*", "double\\w*", "saturat\\w*",
                 "(?:cpu|memory|disk|load|connections?) (?:at|is at|hit|hitting|above|over) \\d+ ?%", "maxed(?: out)?",
                 "pegged", "overload\\w*", "high (?:cpu|memory|load)", "wrong results?", "empty results?", "dropp\\w*",
                 "drops", "expir\\w*", "late", "behind", "empty", "blank", "inconsistent", "out of order",
                 "yesterday'?s (?:data|numbers|figures|prices|results)", "not up to date")
TOTAL_FAILURE = terms("crash\\w* (?:on|at|during|when|after) (?:launch\\w*|start\\w*|open\\w*|login|log ?in|"
                      "checkout|boot\\w*)", "not (?:arriving|received|delivered|sending|working)",
                      "never (?:arrive|arrives|arrived|sent)", "at all", "every time", "(?:crash|fail)\\w* for all",
                      "unusable")
# A latency figure against its usual value: "p95 at 3s (normally 400ms)", "p99 3x higher", "up from 200ms".
LATENCY_FIGURE = terms("p\\d\\d(?:\\.\\d+)? (?:at|is|of|=|>|over|above|hit\\w*|up to|now|reached) "
                       "\\d[\\d.]* ?(?:ms|s|sec\\w*)",
                       "normally \\d[\\d.]* ?(?:ms|s|sec\\w*|min\\w*)", "usually \\d[\\d.]* ?(?:ms|s|sec\\w*)",
                       "up from \\d[\\d.]* ?(?:ms|s|sec\\w*)", "\\d+ ?x (?:slower|higher|longer)")
# A raw message key where words belong ("button shows checkout.button.pay"), or text left untranslated.
RAW_TEXT = terms("(?:shows?|showing|displays?|displaying|says|reads) [a-z]+(?:[._][a-z]+)*\\."
                 "(?!(?:com|net|org|io|dev|co|app|ai|de|uk|fr|eu|us|html?|js|css|png|jpg|pdf)(?![\\w.]))[a-z_]+",
                 "untranslated", "missing translations?", "translation keys?", "i18n keys?", "raw keys?")
CONTROL = terms("buttons?", "links?", "forms?", "fields?", "menus?", "cta", "checkout", "inputs?", "dropdowns?",
                "tabs?", "controls?")
SECONDARY = terms("charts?", "graphs?", "reports?", "reporting", "analytics", "exports?", "avatars?", "thumbnails?",
                  "previews?", "recommendations?", "suggestions?", "autocomplete", "widgets?", "badges?",
                  "settings pages?", "tooltips?", "insights", "leaderboards?", "activity feeds?")

# --- internal tooling ------------------------------------------------------------------------------------------

INTERNAL = terms("internal\\w*", "data ?warehouse\\w*", "etl", "elt", "bi (?:tools?|dashboards?|reports?)", "looker",
                 "tableau", "metabase", "airflow", "dbt", "snowflake", "bigquery", "redshift", "superset",
                 "analytics warehouse", "grafana", "kibana", "prometheus", "alertmanager", "jenkins", "ci", "ci/cd",
                 "build (?:servers?|farm|pipelines?|agents?|machines?)", "builds?", "runners?", "github actions",
                 "gitlab", "bitbucket", "artifactory", "artifacts?", "docker registry", "container registry",
                 "sentry", "datadog", "new relic", "splunk", "log(?:ging)? pipeline", "elk", "pagerduty", "opsgenie",
                 "on ?call", "paging", "alerting", "monitoring", "metrics", "vpn", "wi ?fi", "office", "wiki",
                 "confluence", "jira", "notion", "intranet", "slack", "zoom", "google (?:docs|drive|workspace)",
                 "gsuite", "okta", "laptops?", "printers?", "back ?office", "staff", "employees?", "backups?",
                 "bastion", "jump ?hosts?", "terraform", "argo\\w*", "spinnaker", "dev ?tools?", "code review",
                 "admin (?:tools?|portal|dashboard)", "hr (?:portal|system|tool|app)s?", "crm", "salesforce", "hubspot",
                 "zendesk", "support (?:tool|desk|portal)s?", "expense\\w* (?:tool|system|app)s?", "timesheets?",
                 "(?:feature )?flag (?:ui|dashboard)", "deploy(?:s|ments?)? "
                 "(?:pipeline|tool|system)", "linters?", "flaky tests?", "test suites?", "unit tests?", "e2e tests?")
NON_PRODUCTION = terms("staging", "stage env\\w*", "stg", "sandbox\\w*",
                       "(?:dev|development|test|testing|qa|uat|preview|demo|load ?test) (?:env\\w*|clusters?|"
                       "servers?|databases?|dbs?|boxes|box|stacks?|namespaces?|accounts?|instances?)",
                       "non ?prod\\w*", "pre ?prod\\w*", "qa", "uat", "dev env\\w*", "development")
INTERNAL_CRITICAL = terms("can't deploy", "cannot deploy", "unable to deploy", "can't ship", "deploy\\w* "
                          "(?:are |is )?(?:blocked|failing|broken|stuck|down|impossible)", "no deploys",
                          "deploy(?:ment)? pipeline", "not paging", "no pages", "pages? (?:are )?not (?:sent|going "
                          "out|delivered)", "alerts? (?:are )?not (?:firing|sent|delivered|going out)",
                          "alerting (?:is )?(?:down|broken)", "no alerts", "backups? (?:are |have been )?"
                          "(?:fail\\w*|broken|not running|missing|stopped)", "all (?:employees|staff)",
                          "(?:whole|entire) (?:company|org)", "everyone (?:in|at) the (?:company|office)",
                          "all engineers", "can't (?:page|alert)", "nobody (?:gets|got) paged",
                          # Shipping stopped, in the verbs people use for it: "nothing deploys", "can't merge".
                          "nothing (?:deploys|ships|releases|merges|builds|gets (?:deployed|shipped|released|merged)|"
                          "can (?:deploy|ship|be deployed|be shipped))",
                          "(?:can't|cannot|unable to|couldn't|can not) (?:deploy|ship|release|merge|roll ?back|"
                          "hotfix)\\w*",
                          "deploys? (?:won't|don't|can't|aren't|are not|not) (?:go(?:ing)? out|work\\w*|run\\w*|"
                          "start\\w*)", "(?:merges?|releases?|rollbacks?|hotfix\\w*) (?:are |is )?(?:blocked|failing|"
                          "broken|stuck|impossible)")
BACKUPS = terms("backups?", "restores?", "snapshots?", "dumps?", "replication")
BACKUPS_FAIL = terms("fail\\w*", "broken", "not \\w+", "(?:haven't|hasn't|have not|has not|never) \\w+", "stopped",
                     "missing", "skipped", "stale", "behind", "corrupt\\w*")
CUSTOMER_FACING = terms("customers?", "customer's", "users?", "clients?", "merchants?", "sellers?", "buyers?",
                        "shoppers?", "public", "prod api", "production api", "mobile app", "ios", "android",
                        "website", "storefront", "checkout", "members?", "subscribers?", "patients?", "players?",
                        "riders?", "drivers?", "guests?")
NO_IMPACT = terms("no (?:customer|user|external|client)s? impact", "no impact", "not customer ?facing",
                  "no (?:customers?|users?) (?:affected|impacted)", "internal only", "customers? (?:are )?"
                  "(?:not|un)affected", "zero customer impact")

# --- cosmetic --------------------------------------------------------------------------------------------------

COSMETIC = terms("cosmetic", "typos?", "misspel\\w*", "spelling", "grammar", "wording", "copy (?:error|mistake)",
                 "colou?rs?", "fonts?", "alignment", "misalign\\w*", "spacing", "padding", "margins?", "css",
                 "styling", "styles?", "layout", "logos?", "icons?", "broken (?:links?|images?|icons?)",
                 "links? (?:are |is )?broken", "dead links?", "footer", "banner", "dark mode", "z-index",
                 "overlap\\w*", "cut off", "pixel\\w*", "visual\\w*", "ui glitch\\w*", "render(?:ing)? glitch\\w*",
                 "tooltips?", "emojis?", "placeholder text", "lorem ipsum", "capitali[sz]ation", "translations?",
                 "look(?:s)? (?:off|weird|wrong)", "ugly", "favicons?", "screenshots?", "placeholder\\w*",
                 "copy ?writing", "hyphenation", "kerning", "line breaks?", "truncated (?:text|labels?|titles?)")
WRONG = terms("wrong", "incorrect", "inaccurate", "misleading", "outdated", "mislabell?ed", "mismatched")
DISPLAY = terms("symbols?", "labels?", "text", "components?", "dates?", "names?", "titles?", "formats?", "status",
                "wording", "messages?", "copy", "images?", "photos?", "headings?", "captions?", "currency",
                "shows?", "showing", "displays?", "displaying", "says", "reads", "listed", "listing", "as down",
                "as up", "as degraded", "screenshots?", "docs", "documentation", "help (?:articles?|pages?|center)",
                "instructions", "examples?", "tooltips?", "descriptions?")
SAYS = terms("says", "reads", "spelled", "spelt", "shows the text", "displays the text", "reads as")
CUSTOMER_DOCUMENT = terms("invoices?", "invoic\\w*", "receipts?", "bills?", "statements?", "status ?page",
                          "pdfs?", "quotes?", "contracts?", "emails? to customers", "customer emails?",
                          "notifications?", "price (?:shown|displayed)", "prices?")

# A severity word typed in the title is the reporter's opinion; the impact decides.
STATED_SEVERITY = terms("sev ?\\d", "p\\d", "prio(?:rity)? ?\\d", "(?:low|high|top|urgent) prio\\w*", "urgent",
                        "critical", "blocker")
