"""``hash``: a keyed pseudonym, ``<EMAIL_9f86d081884c>``, stable for the same key and value.

HMAC-SHA256 with a secret key, so the pseudonym cannot be reversed by hashing candidate
values (a plain hash of a phone number can be brute-forced in seconds). The value is
normalised first (Unicode NFKC, case-folded, whitespace collapsed) and the label is not part
of the digest, so ``John Smith`` and ``john  smith`` get the same pseudonym in every document
and whether the model called it GIVEN_NAME or NAME: joins across documents keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from dataclasses import dataclass, field

from pipeline.redact.errors import PolicyError


def normalise(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


@dataclass(frozen=True, slots=True)
class Hash:
    key: bytes = field(repr=False)
    digest_chars: int = 12
    template: str = "<{label}_{digest}>"
    name: str = "hash"
    redacts: bool = True

    def __post_init__(self) -> None:
        if not self.key:
            raise PolicyError("hash: needs a secret key (set NER_HASH_KEY or hash_key in the config file)",
                              field="hash_key")
        if not 8 <= self.digest_chars <= 64:
            raise PolicyError("hash: 'digest_chars' must be between 8 and 64", field="digest_chars")

    def digest(self, value: str) -> str:
        return hmac.new(self.key, normalise(value).encode("utf-8"), hashlib.sha256).hexdigest()[: self.digest_chars]

    def apply(self, value: str, label: str) -> str:
        return self.template.replace("{label}", label).replace("{digest}", self.digest(value))
