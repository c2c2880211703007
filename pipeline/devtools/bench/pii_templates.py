"""Message templates of the ``bench redact`` corpora (see ``pii_corpus`` for the placeholders).

``HELDOUT`` is written apart from the others and is only used to check results, never to tune.
"""

from __future__ import annotations

#: The original bench corpus: short business messages.
BUSINESS: list[str] = [
    "Hi {name}, thanks for reaching out. We will call you back at {phone} tomorrow morning.",
    "Please send the signed contract to {email} before Friday.",
    "Customer {name} ({email}) disputes a charge on card {card}.",
    "Wire the refund to IBAN {iban}; the account holder is {name}.",
    "Our records list {name}, SSN {ssn}, living at {address}.",
    "A login from {ip} for the account {email} was blocked.",
    "Ship the parcel to {name}, {address}. Contact number: {phone}.",
    "Dear {name}, your new mobile number {phone} is now active.",
    "Escalated by {name}: the invoice went to {email} instead of the billing team.",
    "Card ending in the digits of {card} was used from {ip} at 10:42.",
    "{name} and {name} will join the call; dial {phone} if the link fails.",
    "Reminder: {name} moved to {address} and can be reached on {phone} or {email}.",
]
FILLER: tuple[str, ...] = (
    "The quarterly report is attached.", "Let me know if anything is unclear.",
    "We apologise for the delay.", "The ticket was closed after review.",
    "Thanks again for your patience.", "This message was generated automatically.",
)

#: Development corpus: prose that does not look like a form (the misses of issue 12).
DEV_PROSE: list[str] = [
    '{first:a}: "Who are you?"\n{first:b}: "Someone who knows the way."\n{first:a}: "Then lead."\n'
    '{first:b}: "Follow me."',
    "{first:a} had given {first:a} his address, or so {first:b} claimed at the hearing.",
    "The founders: {last}, {last} and {last} met at university in 1998.",
    "The {name} version recorded for the 1967 album is slower than the original.",
    "In the review, {name:a} praised the arrangement; {last:a} later said the mix was rushed.",
    "According to police, {name} was arrested on Tuesday after a brief chase downtown.",
    "Interviewer: What changed after the tour?\n{first:a}: We stopped arguing.\n"
    "Interviewer: And {first:b}?\n{first:a}: {first:b} left the band in the spring.",
    "Track four features {name} on guitar and {name} on drums, produced by {last}.",
    "Minister {last:m} told reporters that {last:m} would not resign despite the vote.",
    "Write to {email} or call {phone}; {first} from the front desk will pick up.",
    "My neighbour {first} lent me a ladder, and {first} still wants it back.",
    "The prize went to {name}, whose debut novel follows a family in postwar Europe.",
    "Signed, {name}, {address}",
    "Speakers included {name}, {name} and {last} of the regional office.",
    "She wrote: dear {first:a}, I miss you. {first:a}, please call me at {phone}.",
    "{first}, {first} and {first} share the flat at {address}.",
]

#: Held-out corpus: other genres, other wording. Used for checking only.
HELDOUT: list[str] = [
    "Minutes of the board meeting. Present: {name:c}, {name}, {name}. Chair: {name:c}.",
    "[10:02] {first:a}> are you coming tonight?\n[10:03] {first:b}> maybe, ask {first:c}\n"
    "[10:05] {first:a}> {first:c} said no",
    "{last}, {first}. 2019. Notes on river ecology. Journal of Field Studies 12: 44-61.",
    "{name} scored twice as the visitors came back from a goal down; coach {last:k} praised the defence.",
    "Obituary: {name:o} died peacefully at home. {first:o} is survived by two daughters.",
    "To whom it may concern, I have known {name:r} for six years. {last:r} is diligent and kind.",
    "Delivery address: {address}. Recipient: {name}. Mobile: {phone}.",
    "Please update my e-mail to {email} and my card on file to {card}.",
    "Transfer received from {iban} on behalf of {name}.",
    "Employee file: {name}, social security number {ssn}, home {address}.",
    "Suspicious requests came from {ip} and {ip} overnight.",
    "Cast: {name} as the inspector, {name} as the widow, and {first} {last} as the butler.",
    "Thanks {first}! Forwarding to {first} and {first} now.",
    "Author {name:w} reads from a new collection on Thursday; {last:w} lives in the city.",
    "Phone log: called {phone} at 9:15, then {phone} at 11:40; no answer from {first}.",
    "Quote of the day, from {name}: never trust a quiet river.",
]
HELDOUT_FILLER: tuple[str, ...] = (
    "Doors open at seven.", "All times are local.", "Refreshments will be provided.",
    "No further action is needed.", "See the attached schedule.",
)
