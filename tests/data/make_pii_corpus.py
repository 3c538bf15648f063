"""Regenerate `pii_corpus.json`: synthetic PII samples and benign look-alikes, deterministically.

    python tests/data/make_pii_corpus.py        # rewrites tests/data/pii_corpus.json

The hand-written samples already in the file (`"source": "hand"`) are kept as they are, first and
in order; everything else is generated here from a fixed seed, so the file only changes when this
script does. Nothing is real: names and domains are invented (`example.*` and reserved TLDs), card
numbers are computed to pass the Luhn check, keys have real shapes and random bodies.

Each positive sample is `{"type", "value", "text", "form", "source"}`: `value` is the exact span a
detector must cover inside `text` (a realistic line it could appear in); `form` says how it is
written (`plain`, `obfuscated`, `zero_width`, `full_width`, `spaced`, `dashed`...). Each benign
sample is `{"kind", "text"}`: text that looks like PII to a naive pattern but is not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import random
import string
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("pii_corpus.json")
SEED = 15
ZWSP = "\u200b"
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

FIRST = ["alice", "bob", "carol", "dmitri", "esther", "farid", "grace", "hiro", "ines", "jamal", "kofi", "lena"]
LAST = ["smith", "okafor", "nguyen", "garcia", "muller", "tanaka", "rossi", "kowalski", "haddad", "silva"]
DOMAINS = ["example.com", "example.org", "mail.example.net", "corp.example.co.uk", "example.io", "uni.example.edu"]
EMAIL_LINES = [
    "Please send the signed contract to {v} before Friday.",
    "From: {v}",
    "reply-to: {v}",
    "You can reach me at {v} if anything breaks.",
    "cc {v}, thanks!",
    "Contact: {v} (billing)",
]
CARD_LINES = [
    "Card on file: {v}, exp 04/29.",
    "Please charge {v} for the renewal.",
    "cc={v}&cvv=123",
    "My new card number is {v}",
    "payment_method: {v}",
]
SECRET_LINES = [
    "export API_KEY={v}",
    "Authorization: Bearer {v}",
    'config = {{"token": "{v}"}}',
    "here is my key, don't share it: {v}",
    "STRIPE_SECRET={v}",
]
IP_LINES = ["ssh admin@{v}", "Failed login from {v} at 03:12", "server_ip = {v}"]
URL_LINES = ["The report is at {v} (internal only).", "open {v}", "link: {v}"]


def _luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return body + str((10 - total % 10) % 10)


def _group(number: str, separator: str) -> str:
    sizes = (
        (4, 6, 5)
        if len(number) == 15
        else tuple([4] * (len(number) // 4) + ([len(number) % 4] if len(number) % 4 else []))
    )
    parts, position = [], 0
    for size in sizes:
        parts.append(number[position : position + size])
        position += size
    return separator.join(parts)


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else "\u3000" if c == " " else c for c in text)


def _zero_width(text: str, rng: random.Random) -> str:
    cut = sorted(rng.sample(range(1, len(text)), 2))
    return text[: cut[0]] + ZWSP + text[cut[0] : cut[1]] + "\u200d" + text[cut[1] :]


def _token(rng: random.Random, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def _b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def emails(rng: random.Random) -> list[dict[str, str]]:
    samples = []
    for index in range(80):
        user = f"{rng.choice(FIRST)}{rng.choice(['.', '_', '', '+work.'])}{rng.choice(LAST)}"
        domain = rng.choice(DOMAINS)
        plain = f"{user}@{domain}"
        dotted_domain = domain.split(".")
        match index % 8:
            case 0 | 1 | 2:
                value, form = plain, "plain"
            case 3:
                value, form = f"{user} (at) {' (dot) '.join(dotted_domain)}", "obfuscated"
            case 4:
                value, form = f"{user}[at]{'[dot]'.join(dotted_domain)}", "obfuscated"
            case 5:
                value, form = f"{user} @ {domain}", "spaced"
            case 6:
                value, form = _zero_width(plain, rng), "zero_width"
            case _:
                value, form = _full_width(plain), "full_width"
        samples.append({"type": "email", "value": value, "text": rng.choice(EMAIL_LINES).format(v=value), "form": form})
    return samples


ISSUERS = [("4", 16), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15)]
ISSUERS += [("6011", 16), ("65", 16), ("3528", 16), ("3589", 16), ("62", 16)]


def cards(rng: random.Random) -> list[dict[str, str]]:
    samples = []
    for index in range(80):
        prefix, length = ISSUERS[index % len(ISSUERS)]
        number = _luhn_complete(prefix, length, rng)
        match index % 6:
            case 0:
                value, form = number, "plain"
            case 1:
                value, form = _group(number, " "), "spaced"
            case 2:
                value, form = _group(number, "-"), "dashed"
            case 3:
                value, form = _group(number, "."), "dotted"
            case 4:
                value, form = _zero_width(_group(number, " "), rng), "zero_width"
            case _:
                value, form = _full_width(_group(number, " ")), "full_width"
        if len(number) == 19 and form == "dotted":
            value, form = _group(number, " "), "spaced"
        samples.append(
            {"type": "credit_card", "value": value, "text": rng.choice(CARD_LINES).format(v=value), "form": form}
        )
    return samples


def _pem(rng: random.Random, kind: str) -> str:
    body = base64.b64encode(rng.randbytes(rng.choice([120, 270, 400]))).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(lines) + f"\n-----END {kind}PRIVATE KEY-----"


def _jwt(rng: random.Random) -> str:
    header = _b64url({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"})
    claims = _b64url({"sub": str(rng.randint(1000, 99999)), "org": rng.choice(LAST), "exp": 1999999999})
    return f"{header}.{claims}.{_token(rng, 43, string.ascii_letters + string.digits + '-_')}"


SECRET_SHAPES: list[tuple[str, Callable[[random.Random], str]]] = [
    ("openai", lambda r: "sk-" + _token(r, 48)),
    ("openai_project", lambda r: "sk-proj-" + _token(r, 56)),
    ("anthropic", lambda r: "sk-ant-api03-" + _token(r, 40, string.ascii_letters + string.digits + "_")),
    ("stripe_live", lambda r: "sk_live_" + _token(r, 24)),
    ("stripe_test", lambda r: "sk_test_" + _token(r, 24)),
    ("stripe_restricted", lambda r: "rk_live_" + _token(r, 24)),
    ("stripe_restricted_test", lambda r: "rk_test_" + _token(r, 24)),
    ("stripe_webhook", lambda r: "whsec_" + _token(r, 32)),
    ("aws_access_key", lambda r: "AKIA" + _token(r, 16, string.ascii_uppercase + string.digits)),
    ("aws_session_key", lambda r: "ASIA" + _token(r, 16, string.ascii_uppercase + string.digits)),
    ("github_classic", lambda r: "ghp_" + _token(r, 36)),
    ("github_oauth", lambda r: "gho_" + _token(r, 36)),
    ("github_fine_grained", lambda r: "github_pat_" + _token(r, 22) + "_" + _token(r, 59)),
    ("gitlab", lambda r: "glpat-" + _token(r, 20)),
    ("slack_bot", lambda r: f"xoxb-{r.randint(10**10, 10**11)}-{r.randint(10**10, 10**11)}-{_token(r, 24)}"),
    ("slack_user", lambda r: f"xoxp-{r.randint(10**10, 10**11)}-{r.randint(10**10, 10**11)}-{_token(r, 32)}"),
    ("slack_app", lambda r: f"xoxa-2-{_token(r, 30)}"),
    ("google", lambda r: "AIza" + _token(r, 35, string.ascii_letters + string.digits + "-_")),
    ("npm", lambda r: "npm_" + _token(r, 36)),
    ("huggingface", lambda r: "hf_" + _token(r, 34)),
    ("jwt", _jwt),
    ("pem_rsa", lambda r: _pem(r, "RSA ")),
    ("pem_ec", lambda r: _pem(r, "EC ")),
    ("pem_openssh", lambda r: _pem(r, "OPENSSH ")),
    ("pem_pkcs8", lambda r: _pem(r, "")),
]


def secrets(rng: random.Random) -> list[dict[str, str]]:
    samples = []
    for index in range(4 * len(SECRET_SHAPES)):
        form, make = SECRET_SHAPES[index % len(SECRET_SHAPES)]
        value = make(rng)
        line = "{v}" if form.startswith("pem") else rng.choice(SECRET_LINES)
        samples.append({"type": "secret", "value": value, "text": line.format(v=value), "form": form})
    return samples


def ips(rng: random.Random) -> list[dict[str, str]]:
    samples = []
    for index in range(20):
        if index % 4 == 3:
            value = f"2001:db8:{rng.randint(1, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        else:
            octets = (
                rng.choice([10, 172, 192, 203, 198]),
                rng.randint(0, 255),
                rng.randint(0, 255),
                rng.randint(1, 254),
            )
            value = ".".join(map(str, octets))
        samples.append({"type": "ip", "value": value, "text": rng.choice(IP_LINES).format(v=value), "form": "plain"})
    return samples


def urls(rng: random.Random) -> list[dict[str, str]]:
    paths = ["hr/salaries", "reset-password?token=" + _token(rng, 12), "files/private/q3.pdf", "u/" + _token(rng, 8)]
    samples = []
    for index in range(20):
        value = f"https://{rng.choice(['intranet', 'files', 'portal'])}.example.com/{paths[index % len(paths)]}"
        samples.append({"type": "url", "value": value, "text": rng.choice(URL_LINES).format(v=value), "form": "plain"})
    return samples


# --- benign look-alikes -----------------------------------------------------------------------


def _not_a_card(rng: random.Random, length: int = 16) -> str:
    """A long number that is no card: it fails the Luhn check or has no card issuer prefix."""
    while True:
        number = rng.choice("01789") + "".join(rng.choice(string.digits) for _ in range(length - 1))
        if rng.random() < 0.5:
            return number
        number = rng.choice("23456") + number[1:]
        if not _passes_luhn(number):
            return number


def _passes_luhn(number: str) -> bool:
    digits = [int(c) for c in number]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


PROC_CAPS = ["0000000000000000", "000001ffffffffff", "00000000a80425fb", "0000003fffffffff"]


def benign(rng: random.Random) -> list[dict[str, str]]:
    makers: list[tuple[str, Callable[[], str]]] = [
        ("uuid", lambda: f"request_id={uuid.UUID(int=rng.getrandbits(128), version=4)}"),
        ("git_sha", lambda: f"commit {hashlib.sha1(rng.randbytes(8)).hexdigest()} (HEAD -> main)"),
        ("sha256", lambda: f"sha256:{hashlib.sha256(rng.randbytes(8)).hexdigest()}  image.tar"),
        ("md5", lambda: f"{hashlib.md5(rng.randbytes(8)).hexdigest()}  backup.tgz"),
        (
            "proc_status",
            lambda: f"{rng.choice(['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])}:\t{rng.choice(PROC_CAPS)}",
        ),
        (
            "proc_status",
            lambda: f"{rng.choice(['SigPnd', 'ShdPnd', 'SigBlk', 'SigIgn', 'SigCgt'])}:\t{rng.getrandbits(64):016x}",
        ),
        ("proc_status", lambda: f"VmRSS:\t{rng.randint(1000, 9999999)} kB"),
        (
            "timestamp",
            lambda: f"{EPOCH + dt.timedelta(seconds=rng.randint(0, 10**8)):%Y-%m-%dT%H:%M:%S}Z",
        ),
        ("timestamp", lambda: f"ts={rng.randint(1_600_000_000_000_000, 1_800_000_000_000_000)} (epoch microseconds)"),
        ("timestamp", lambda: f"created_at_ms: {rng.randint(1_600_000_000_000, 1_800_000_000_000)}"),
        ("version", lambda: f"v{rng.randint(1, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 99)}.{rng.randint(0, 999)}"),
        ("version", lambda: f"Chrome/{rng.randint(100, 130)}.0.{rng.randint(4000, 7000)}.{rng.randint(10, 250)}"),
        ("version", lambda: f"kernel {rng.randint(4, 6)}.{rng.randint(0, 19)}.0-{rng.randint(10, 99)}-amd64"),
        ("version", lambda: f"Windows 10.0.{rng.randint(17000, 22631)}.{rng.randint(100, 3000)}"),
        ("order_number", lambda: f"Order #{_not_a_card(rng)} has shipped."),
        ("order_number", lambda: f"Invoice ORD-{rng.randint(2019, 2026)}-{rng.randint(0, 999999):06d}"),
        (
            "order_number",
            lambda: f"tracking 1Z{_token(rng, 6, string.ascii_uppercase + string.digits)}{rng.randint(10**9, 10**10)}",
        ),
        ("order_number", lambda: f"account {_not_a_card(rng, 19)}"),
        ("phone", lambda: f"call +1 415 555 {rng.randint(1000, 9999)}"),
        (
            "isbn",
            lambda: (
                f"ISBN 978-{rng.randint(0, 9)}-{rng.randint(10, 99)}-{rng.randint(100000, 999999)}-{rng.randint(0, 9)}"
            ),
        ),
        ("shell", lambda: f"{rng.choice(FIRST)}@build-{rng.randint(1, 40):02d}:~/src$ make test"),
        ("base64", lambda: f"payload: {base64.b64encode(rng.randbytes(24)).decode()}"),
        ("key_lookalike", lambda: f"task-{_token(rng, 24, string.ascii_lowercase)}"),
        ("key_lookalike", lambda: f"AKIA{_token(rng, 4, string.ascii_uppercase)} is too short to be a key id"),
        ("key_lookalike", lambda: "pk_live_" + _token(rng, 6) + " (a publishable-key placeholder)"),
        ("path", lambda: f"/usr/lib/python3.{rng.randint(8, 13)}/site-packages/pkg/__init__.py"),
        ("path", lambda: f"/proc/{rng.randint(2, 99999)}/status"),
        (
            "semver_ip_like",
            lambda: "release " + ".".join(str(rng.randint(0, 9)) for _ in range(5)),
        ),
        ("mac", lambda: "ether " + ":".join(f"{rng.randint(0, 255):02x}" for _ in range(6))),
        (
            "money",
            lambda: f"total {rng.randint(1000, 9999)} {rng.randint(1000, 9999)} EUR over {rng.randint(2, 9)} months",
        ),
    ]
    samples = []
    for index in range(330):
        kind, make = makers[index % len(makers)]
        samples.append({"kind": kind, "text": make()})
    return samples


def build(existing: dict[str, Any]) -> dict[str, Any]:
    rng = random.Random(SEED)
    hand = [
        {**sample, "text": sample.get("text") or f"Note for later: {sample['value']} (keep it safe).", "source": "hand"}
        for sample in existing.get("samples", [])
        if sample.get("source", "hand") == "hand"
    ]
    generated = [*emails(rng), *cards(rng), *secrets(rng), *ips(rng), *urls(rng)]
    for sample in hand:
        sample.setdefault("form", "plain")
    return {
        "description": (
            "Synthetic PII samples (no real person, card or key) and benign look-alikes; regenerate with "
            "`python tests/data/make_pii_corpus.py`. Cards pass the Luhn check; keys have real shapes only."
        ),
        "samples": [*hand, *({**sample, "source": "generated"} for sample in generated)],
        "benign": benign(rng),
    }


def main() -> None:
    existing = json.loads(PATH.read_text()) if PATH.exists() else {}
    corpus = build(existing)
    PATH.write_text(json.dumps(corpus, indent=1, ensure_ascii=False) + "\n")
    print(f"{PATH}: {len(corpus['samples'])} positive samples, {len(corpus['benign'])} benign look-alikes")


if __name__ == "__main__":
    main()
