"""Vote proxies: needs and offers, the matching, the answers, the holder's details.

The rules (France, since 2022): the giver (mandant) picks a holder (mandataire) registered in
any commune; the holder votes at the giver's polling station; a holder carries one proxy
established in France per round (the campaign's `proxy_capacity`). A match covers the
need's rounds; the holder's room per round is a row of `proxy_slot`, whose primary key stops
two needs taking the same holder for the same round whatever the race. Matching operations
also queue one behind the other (SQLite's writer lock; an advisory lock on PostgreSQL), so
the best candidate a matcher reads is still free when it writes.

Every operation that changes a request or a match queues, in its own transaction, the
messages the change implies (outbox rows keyed per match and person, `notices`): a
handler's edit afterwards, or a tick's next step, may fail without losing them. A request
belongs to its campaign (`campaign_id`): its rounds mask is read against that campaign's
rounds, whichever campaign is active.

`rules` (rounds, stations, voter details), `requests` (needs and offers), `matching` (a
need or an offer matched as it comes), `full_pass` (the periodic pass: `optimal` plans each
department, `lexicographic` solves it with HiGHS, `pass_writes` writes it over arrays),
`answers` (yes, no, details, registered), `withdrawal`, `ticks` (expiry, erasure,
reminders), `views` (a match as its sides see it, the organizers' counts), `export`,
`asks` (where supporters vote, and asking those near a need nobody offered for).
"""

from storage.proxies.answers import (
    Change,
    answer,
    give_holder_details,
    keep_voter_number,
    mark_registered,
)
from storage.proxies.asks import (
    AskedNeed,
    VotingPlace,
    ask_nearby,
    asked_need,
    long_unmatched,
    set_voting_place,
    voting_place,
)
from storage.proxies.export import EXPORT_COLUMNS, export_requests
from storage.proxies.full_pass import match_all
from storage.proxies.matching import match_need, match_offer
from storage.proxies.requests import (
    CalledPerson,
    MyProxy,
    Place,
    Requester,
    called_person,
    check_station,
    create_request,
    my_proxy,
)
from storage.proxies.rules import (
    PROPOSAL_HOURS,
    ProxyError,
    check_holder_details,
    check_voter_number,
    dates_of,
    normalise_station,
    round_dates,
    rounds_mask,
)
from storage.proxies.ticks import erase_voter_details, expire_proposals, plan_proxy_reminders
from storage.proxies.views import (
    MatchView,
    Overview,
    Side,
    match_view,
    overview,
    waiting_on_organizers,
)
from storage.proxies.withdrawal import Cancellation, cancel_request

__all__ = [
    "EXPORT_COLUMNS", "PROPOSAL_HOURS", "AskedNeed", "CalledPerson", "Cancellation", "Change",
    "MatchView", "MyProxy", "Overview", "Place", "ProxyError", "Requester", "Side", "VotingPlace",
    "answer", "ask_nearby", "asked_need", "called_person", "cancel_request",
    "check_holder_details", "check_station", "check_voter_number", "create_request", "dates_of",
    "erase_voter_details", "expire_proposals", "export_requests", "give_holder_details",
    "keep_voter_number", "long_unmatched", "mark_registered", "match_all", "match_need",
    "match_offer", "match_view", "my_proxy", "normalise_station", "overview",
    "plan_proxy_reminders", "round_dates", "rounds_mask", "set_voting_place", "voting_place",
    "waiting_on_organizers",
]
