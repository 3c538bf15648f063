/* The PII detectors' hot loops in C: `_pii_scan`, an optional CPython extension.
 *
 * Each function here is a twin of a Python function in `pii_detectors`, `pii_email` or `pii_url`
 * and returns exactly what that one returns (`tests/unit/guardrails/test_pii_native.py` checks
 * both on the corpus, the bench texts and generated texts). The Python code stays the reference
 * and the fallback: `pii_native` loads this module only when it was built from this same source.
 * What stays in Python is the rare or intricate part: matching a secret at its hints, an IPv6
 * candidate and a URL without a scheme.
 *
 * - `normalize(text)`: `pii_detectors.normalize` (any text);
 * - `scan(text)`, for an ASCII text only: a tuple of
 *   secret hints (`_secret_hints`), email spans (`pii_email.email_spans`), card spans
 *   (`_card_spans`), IPv4 spans (`_ipv4_spans`), IPv6 run starts (`_ipv6_run_starts`), URL spans
 *   with a scheme (`pii_url.scheme_spans`) and the tokens that can hold a URL without one
 *   (`pii_url.candidate_tokens`, less those inside a URL with a scheme, where no match is kept).
 *
 * Character classes are those of Python's `re` on a str pattern, restricted to ASCII: `\w` is
 * [A-Za-z0-9_], `\s` is str.isspace (\t\n\v\f\r, \x1c-\x1f and space), `\d` is [0-9].
 * Build: `make setup` (the `pii-scan` target). SOURCE_SHA256 is this file's digest.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#ifndef SOURCE_SHA256
#define SOURCE_SHA256 "unknown"
#endif

typedef struct {
    Py_ssize_t *items;
    Py_ssize_t count, capacity;
} Positions;

static int push(Positions *list, Py_ssize_t value) {
    if (list->count == list->capacity) {
        Py_ssize_t capacity = list->capacity ? 2 * list->capacity : 64;
        Py_ssize_t *items = PyMem_Realloc(list->items, (size_t)capacity * sizeof *items);
        if (!items) {
            PyErr_NoMemory();
            return -1;
        }
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = value;
    return 0;
}

static int push_span(Positions *list, Py_ssize_t start, Py_ssize_t end) {
    return push(list, start) < 0 ? -1 : push(list, end);
}

static PyObject *as_ints(const Positions *list) {
    PyObject *result = PyList_New(list->count);
    for (Py_ssize_t i = 0; result && i < list->count; i++) {
        PyObject *value = PyLong_FromSsize_t(list->items[i]);
        if (!value) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, value);
    }
    return result;
}

static PyObject *as_spans(const Positions *list) {
    PyObject *result = PyList_New(list->count / 2);
    for (Py_ssize_t i = 0; result && i < list->count / 2; i++) {
        PyObject *span = Py_BuildValue("(nn)", list->items[2 * i], list->items[2 * i + 1]);
        if (!span) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, i, span);
    }
    return result;
}

/* --- ASCII character classes ------------------------------------------------------------------ */

enum {
    DIGIT = 1,      /* \d */
    WORD = 2,       /* \w */
    SPACE = 4,      /* \s, str.isspace */
    LOCAL = 8,      /* an email's local part: [A-Za-z0-9._%+-] */
    DOMAIN = 16,    /* an email's domain: [A-Za-z0-9.-] */
    TLD = 32,       /* an email's top-level label, as langchain writes it: [A-Z|a-z] */
    HEX_COLON = 64, /* [0-9A-Fa-f:] */
    URL_STOP = 128, /* what ends a URL with a scheme: \s and <>"{}|\^`[] */
    HINT = 256,     /* where a secret hint can be: - _ J A */
};

static unsigned short CLASSES[256];

static void init_classes(void) {
    for (int c = 0; c < 128; c++) {
        unsigned short bits = 0;
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int digit = c >= '0' && c <= '9';
        int hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        int space = (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == ' ';
        if (digit) bits |= DIGIT;
        if (alpha || digit || c == '_') bits |= WORD;
        if (space) bits |= SPACE;
        if (alpha || digit || (c && strchr("._%+-", c))) bits |= LOCAL;
        if (alpha || digit || c == '.' || c == '-') bits |= DOMAIN;
        if (alpha || c == '|') bits |= TLD;
        if (hex || c == ':') bits |= HEX_COLON;
        if (space || (c && strchr("<>\"{}|\\^`[]", c))) bits |= URL_STOP;
        if (c && strchr("-_JA", c)) bits |= HINT;
        CLASSES[c] = bits;
    }
}

#define IS(c, class) (CLASSES[(unsigned char)(c)] & (class))

typedef struct {
    const char *s;
    Py_ssize_t n;
} Text;

static int at(const Text *t, Py_ssize_t i, char c) { return i >= 0 && i < t->n && t->s[i] == c; }
static int has(const Text *t, Py_ssize_t i, int class) { return i >= 0 && i < t->n && IS(t->s[i], class); }
static int among(const Text *t, Py_ssize_t i, const char *set) {
    return i >= 0 && i < t->n && t->s[i] && strchr(set, t->s[i]);
}
static int starts_with(const Text *t, Py_ssize_t i, const char *literal) {
    size_t length = strlen(literal);
    return i >= 0 && i + (Py_ssize_t)length <= t->n && memcmp(t->s + i, literal, length) == 0;
}

/* `\b` at `i`, as `re` reads it (the text's real start and end). */
static int boundary(const Text *t, Py_ssize_t i) {
    if (t->n == 0) return 0;
    return has(t, i - 1, WORD) != has(t, i, WORD);
}

/* Where `literal` first lies in [from, to), or -1: found from its `anchor`th character, the rarest. */
static Py_ssize_t find_literal(const Text *t, const char *literal, Py_ssize_t anchor, Py_ssize_t from, Py_ssize_t to) {
    Py_ssize_t length = (Py_ssize_t)strlen(literal);
    for (Py_ssize_t i = from + anchor; i < to - (length - 1 - anchor);) {
        const char *hit = memchr(t->s + i, literal[anchor], (size_t)(to - (length - 1 - anchor) - i));
        if (!hit) return -1;
        i = hit - t->s;
        if (memcmp(hit - anchor, literal, (size_t)length) == 0) return i - anchor;
        i++;
    }
    return -1;
}

static Py_ssize_t run_of(const Text *t, Py_ssize_t i, int class, Py_ssize_t most) {
    Py_ssize_t length = 0;
    while (length < most && has(t, i + length, class)) length++;
    return length;
}

/* --- secrets: `pii_detectors._secret_hints` ---------------------------------------------------- */

static int secret_hint(const Text *t, Py_ssize_t i) {
    char c = t->s[i];
    if ((c == '-' || c == '_') && among(t, i - 1, "kctbmfpousra")) return 1;
    if (c == 'J') return 1;
    if (c == 'A' && among(t, i + 1, "KSI") &&
        ((among(t, i + 2, "KSI") && at(t, i + 3, 'A')) || (at(t, i + 2, 'z') && among(t, i + 3, "kctbmfpousra"))))
        return 1;
    return c == '-' && starts_with(t, i, "-----BEGIN ");
}

/* --- emails: `pii_email.email_spans` ----------------------------------------------------------- */

/* The end of langchain's `@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b` matched at the `@` at `i`, or -1. */
static Py_ssize_t email_domain_end(const Text *t, Py_ssize_t i) {
    Py_ssize_t domain = run_of(t, i + 1, DOMAIN, PY_SSIZE_T_MAX);
    for (Py_ssize_t taken = domain; taken >= 1; taken--) { /* the greedy `+`, backing off */
        Py_ssize_t dot = i + 1 + taken;
        if (!at(t, dot, '.')) continue;
        for (Py_ssize_t label = run_of(t, dot + 1, TLD, PY_SSIZE_T_MAX); label >= 2; label--)
            if (boundary(t, dot + 1 + label)) return dot + 1 + label;
    }
    return -1;
}

static int email_spans(const Text *t, Positions *found) {
    Py_ssize_t resume = 0;
    const char *sign = t->n > 0 ? memchr(t->s, '@', (size_t)t->n) : NULL;
    while (sign) {
        Py_ssize_t i = sign - t->s, end = email_domain_end(t, i), first = -1;
        if (end >= 0) {
            Py_ssize_t start = i;
            while (start > resume && IS(t->s[start - 1], LOCAL)) start--;
            if (start > 0 && t->s[start - 1] == ' ' && start < i && IS(t->s[start], WORD) && t->s[start] != '_')
                first = start;
            else
                for (Py_ssize_t b = start; b < i && first < 0; b++)
                    if (boundary(t, b)) first = b;
            if (first >= 0) {
                resume = end;
                if (push_span(found, first, end) < 0) return -1;
            }
        }
        Py_ssize_t next = i + 1 > resume ? i + 1 : resume;
        sign = next < t->n ? memchr(t->s + next, '@', (size_t)(t->n - next)) : NULL;
    }
    return 0;
}

/* --- cards: `pii_detectors._card_spans` -------------------------------------------------------- */

static int card_ends_at(const Text *t, Py_ssize_t end) { /* (?!\d|[.-]\d) */
    return !has(t, end, DIGIT) && !(among(t, end, ".-") && has(t, end + 1, DIGIT));
}

static int digits_at(const Text *t, Py_ssize_t i, Py_ssize_t count) { return run_of(t, i, DIGIT, count) == count; }

/* `sep` (0 for none) at `i`: how many characters it takes, or -1. */
static Py_ssize_t separator_at(const Text *t, Py_ssize_t i, char sep) {
    if (!sep) return 0;
    return at(t, i, sep) ? 1 : -1;
}

/* The end of `_CARD` matched at `i` (a digit), or -1, trying alternatives as `re` does. */
static Py_ssize_t card_end(const Text *t, Py_ssize_t i) {
    if (among(t, i - 1, "0123456789.-")) return -1;
    char seps[2] = {among(t, i + 4, " .-") ? t->s[i + 4] : 0, 0};
    int choices = seps[0] ? 2 : 1;
    /* \d{4} ([ .-]?) \d{4} \1 \d{4} \1 \d{1,4} (?:\1 \d{1,3})? */
    for (int choice = 0; choice < choices; choice++) {
        char sep = seps[choice];
        Py_ssize_t p = i, width = sep ? 1 : 0;
        if (!digits_at(t, p, 4)) return -1;
        p += 4 + width;
        if (!digits_at(t, p, 4)) continue;
        p += 4;
        if (separator_at(t, p, sep) < 0) continue;
        p += width;
        if (!digits_at(t, p, 4)) continue;
        p += 4;
        if (separator_at(t, p, sep) < 0) continue;
        p += width;
        for (Py_ssize_t group = run_of(t, p, DIGIT, 4); group >= 1; group--) {
            Py_ssize_t q = p + group;
            if (separator_at(t, q, sep) >= 0)
                for (Py_ssize_t tail = run_of(t, q + width, DIGIT, 3); tail >= 1; tail--)
                    if (card_ends_at(t, q + width + tail)) return q + width + tail;
            if (card_ends_at(t, q)) return q;
        }
    }
    /* Amex: \d{4} ([ .-]?) \d{6} \2 \d{5} */
    for (int choice = 0; choice < choices; choice++) {
        char sep = seps[choice];
        Py_ssize_t width = sep ? 1 : 0, p = i + 4 + width;
        if (!digits_at(t, p, 6) || separator_at(t, p + 6, sep) < 0) continue;
        p += 6 + width;
        if (digits_at(t, p, 5) && card_ends_at(t, p + 5)) return p + 5;
    }
    return -1;
}

/* `_is_card`: an issuer's first digit, not one digit repeated, 13-19 digits and the Luhn check. */
static int is_card(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    int count = 0, sum = 0, first = -1, mixed = 0;
    for (Py_ssize_t i = end - 1; i >= start; i--) {
        if (!IS(t->s[i], DIGIT)) continue;
        int digit = t->s[i] - '0';
        if (first >= 0 && digit != first) mixed = 1;
        first = digit; /* read backwards: ends as the first digit */
        if (count % 2 == 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
        sum += digit;
        count++;
    }
    return first >= 2 && first <= 6 && mixed && count >= 13 && count <= 19 && sum % 10 == 0;
}

/* `runs`: the (start, end) of every maximal run of digits, in order. `_card_matches` tries `_CARD`
 * where a run of 4+ digits starts, at or after the end of the last try's match (or run's 4 digits). */
static int card_spans(const Text *t, const Positions *runs, Positions *found) {
    Py_ssize_t position = 0;
    for (Py_ssize_t r = 0; r < runs->count; r += 2) {
        Py_ssize_t run = runs->items[r];
        if (run < position || runs->items[r + 1] - run < 4) continue;
        Py_ssize_t end = card_end(t, run);
        if (end < 0) {
            position = run + 4;
            continue;
        }
        if (is_card(t, run, end) && push_span(found, run, end) < 0) return -1;
        position = end;
    }
    return 0;
}

/* --- IP addresses: `pii_detectors._ipv4_spans`, `_ipv6_run_starts` ----------------------------- */

/* The end of `_IPV4` matched at `i`, or -1. Each part is a whole run of digits: backing off a
 * digit leaves a digit where a dot or the end must be. */
static Py_ssize_t ipv4_end(const Text *t, Py_ssize_t i) {
    if (has(t, i - 1, WORD) || at(t, i - 1, '.')) return -1;
    Py_ssize_t p = i + 1 + run_of(t, i + 1, DIGIT, 2);
    for (int part = 0; part < 3; part++) {
        if (!at(t, p, '.')) return -1;
        Py_ssize_t digits = run_of(t, p + 1, DIGIT, 3);
        if (!digits) return -1;
        p += 1 + digits;
    }
    if (has(t, p, WORD) || (at(t, p, '.') && has(t, p + 1, DIGIT))) return -1;
    return p;
}

/* `ipaddress.IPv4Address` accepts it: four parts of 0-255 without a leading zero. */
static int is_ipv4(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    int value = 0, digits = 0;
    for (Py_ssize_t i = start; i <= end; i++) {
        if (i == end || t->s[i] == '.') {
            if (digits == 0 || digits > 3 || value > 255) return 0;
            value = digits = 0;
            continue;
        }
        if (digits == 1 && value == 0) return 0; /* a leading zero */
        value = value * 10 + (t->s[i] - '0');
        digits++;
    }
    return 1;
}

/* `finditer` from each run of digits (`runs`, as for cards): a match's look-behind wants no digit
 * before its first one, so it starts where a run does; the next try is from the match's end. */
static int ipv4_spans(const Text *t, const Positions *runs, Positions *found) {
    Py_ssize_t resume = 0;
    for (Py_ssize_t r = 0; r < runs->count; r += 2) {
        Py_ssize_t start = runs->items[r];
        if (start < resume) continue;
        Py_ssize_t end = ipv4_end(t, start);
        if (end < 0) continue;
        if (is_ipv4(t, start, end) && push_span(found, start, end) < 0) return -1;
        resume = end;
    }
    return 0;
}

static int ipv6_run_starts(const Text *t, Positions *found) {
    Py_ssize_t done = 0, i = 0;
    while (i < t->n) {
        /* the next `:[0-9A-Fa-f]{0,4}:` from `i`, as `finditer` finds them (one after another) */
        const char *colon = memchr(t->s + i, ':', (size_t)(t->n - i));
        if (!colon) break;
        Py_ssize_t hint = colon - t->s, hex = 0;
        while (hex < 4 && has(t, hint + 1 + hex, HEX_COLON) && t->s[hint + 1 + hex] != ':') hex++;
        if (!at(t, hint + 1 + hex, ':')) {
            i = hint + 1;
            continue;
        }
        i = hint + 2 + hex;
        if (hint < done) continue;
        Py_ssize_t start = hint;
        while (start > done && IS(t->s[start - 1], HEX_COLON)) start--;
        done = hint + run_of(t, hint, HEX_COLON, PY_SSIZE_T_MAX);
        if (push(found, start) < 0) return -1;
    }
    return 0;
}

/* --- URLs: `pii_url.scheme_spans`, `pii_url.candidate_tokens` ---------------------------------- */

/* `finditer` of `https?://[^\s<>"{}|\\^`\[\]]+`, found from each `://` (rarer than an `h`): a match
 * starts 4 or 5 before it, not before the end of the last match. */
static int scheme_spans(const Text *t, Positions *found) {
    Py_ssize_t resume = 0;
    for (Py_ssize_t colon = find_literal(t, "://", 0, 0, t->n); colon >= 0; colon = find_literal(t, "://", 0, colon + 1, t->n)) {
        Py_ssize_t rest = colon + 3, i = -1;
        if (rest >= t->n || IS(t->s[rest], URL_STOP)) continue;
        if (colon - 5 >= resume && starts_with(t, colon - 5, "https"))
            i = colon - 5;
        else if (colon - 4 >= resume && starts_with(t, colon - 4, "http"))
            i = colon - 4;
        if (i < 0) continue;
        Py_ssize_t end = rest;
        while (end < t->n && !IS(t->s[end], URL_STOP)) end++;
        /* urlparse finds a host unless the first character after `//` starts a path, query or fragment */
        if (!among(t, rest, "/?#") && push_span(found, i, end) < 0) return -1;
        resume = end;
        colon = end - 1;
    }
    return 0;
}

static int candidate_tokens(const Text *t, const Positions *schemes, Positions *found) {
    Py_ssize_t position = 0, scheme = 0;
    Py_ssize_t slash = find_literal(t, "/", 0, 0, t->n), www = find_literal(t, "www.", 3, 0, t->n);
    for (;;) {
        if (slash > -1 && slash < position) slash = find_literal(t, "/", 0, position, t->n);
        if (www > -1 && www < position) www = find_literal(t, "www.", 3, position, t->n);
        if (slash == -1 && www == -1) return 0;
        Py_ssize_t hit = (slash == -1 || (www != -1 && www < slash)) ? www : slash;
        Py_ssize_t start = hit;
        while (start > position && !IS(t->s[start - 1], SPACE)) start--;
        Py_ssize_t end = hit;
        while (end < t->n && !IS(t->s[end], SPACE)) end++;
        position = end;
        Py_ssize_t dot = -1;
        for (Py_ssize_t i = start; i + 1 < end && dot < 0; i++)
            if (t->s[i] == '.' && IS(t->s[i + 1], WORD) && t->s[i + 1] != '_') dot = i;
        if (dot < 0) continue;
        Py_ssize_t from = dot - 3 > start ? dot - 3 : start;
        if (find_literal(t, "/", 0, dot, end) == -1 && find_literal(t, "www.", 3, from, end) == -1) continue;
        while (scheme < schemes->count && schemes->items[scheme + 1] <= start) scheme += 2;
        if (scheme < schemes->count && schemes->items[scheme] <= start && end <= schemes->items[scheme + 1])
            continue; /* inside a URL with a scheme: every match in it would be dropped */
        if (push_span(found, start, end) < 0) return -1;
    }
}

static PyObject *scan(PyObject *Py_UNUSED(module), PyObject *text) {
    if (!PyUnicode_Check(text) || PyUnicode_READY(text) < 0 || !PyUnicode_IS_ASCII(text)) {
        PyErr_SetString(PyExc_ValueError, "scan reads an ASCII str only: normalise the text, or use the Python detectors");
        return NULL;
    }
    Text t = {(const char *)PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text)};
    Positions lists[8] = {{0}};
    Positions *hints = &lists[0], *emails = &lists[1], *cards = &lists[2], *ipv4 = &lists[3], *ipv6 = &lists[4],
              *schemes = &lists[5], *tokens = &lists[6], *runs = &lists[7];
    PyObject *result = NULL;
    int failed = 0;
    for (Py_ssize_t i = 0; i < t.n && !failed; i++) { /* one pass for the secret hints and the runs of digits */
        unsigned short bits = CLASSES[(unsigned char)t.s[i]];
        if (!(bits & (HINT | DIGIT))) continue;
        if (bits & DIGIT) {
            Py_ssize_t end = i + 1;
            while (end < t.n && IS(t.s[end], DIGIT)) end++;
            failed = push_span(runs, i, end) < 0;
            i = end - 1;
        } else if (secret_hint(&t, i))
            failed = push(hints, i) < 0;
    }
    if (!failed && email_spans(&t, emails) == 0 && card_spans(&t, runs, cards) == 0 && ipv4_spans(&t, runs, ipv4) == 0 &&
        ipv6_run_starts(&t, ipv6) == 0 && scheme_spans(&t, schemes) == 0 && candidate_tokens(&t, schemes, tokens) == 0)
        result = Py_BuildValue("(NNNNNNN)", as_ints(hints), as_spans(emails), as_spans(cards), as_spans(ipv4),
                               as_ints(ipv6), as_spans(schemes), as_spans(tokens));
    for (int i = 0; i < 8; i++) PyMem_Free(lists[i].items);
    return result;
}

/* --- normalising: `pii_detectors.normalize` ---------------------------------------------------- */

static int invisible(Py_UCS4 c) { return (c >= 0x200B && c <= 0x200D) || c == 0x2060 || c == 0xFEFF || c == 0xAD; }
static int wide(Py_UCS4 c) { return (c >= 0xFF01 && c <= 0xFF5E) || c == 0x3000; }
static int opening(Py_UCS4 c) { return c == '(' || c == '[' || c == '{' || c == '<'; }
static int closing(Py_UCS4 c) { return c == ')' || c == ']' || c == '}' || c == '>'; }
static Py_UCS4 lower(Py_UCS4 c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Chars;

#define CHAR(u, i) PyUnicode_READ((u)->kind, (u)->data, (i))

/* The end of `_CHANGE_SCAN` matched at `i`, or -1; `*dot` says whether a marker reads as `.`. */
static Py_ssize_t change_end(const Chars *u, Py_ssize_t i, int *dot) {
    Py_UCS4 c = CHAR(u, i);
    Py_ssize_t end = i + 1;
    if (invisible(c)) {
        while (end < u->n && invisible(CHAR(u, end))) end++;
        return end;
    }
    if (wide(c)) {
        while (end < u->n && wide(CHAR(u, end))) end++;
        return end;
    }
    if (opening(c)) {
        while (end < u->n && Py_UNICODE_ISSPACE(CHAR(u, end))) end++;
        if (end + 1 < u->n && lower(CHAR(u, end)) == 'a' && lower(CHAR(u, end + 1)) == 't') {
            *dot = 0;
            end += 2;
        } else if (end + 2 < u->n && lower(CHAR(u, end)) == 'd' && lower(CHAR(u, end + 1)) == 'o' &&
                   lower(CHAR(u, end + 2)) == 't') {
            *dot = 1;
            end += 3;
        } else
            return -1;
        while (end < u->n && Py_UNICODE_ISSPACE(CHAR(u, end))) end++;
        return end < u->n && closing(CHAR(u, end)) ? end + 1 : -1;
    }
    if (c == '@') {
        *dot = 0;
        int spaced = (i > 0 && Py_UNICODE_ISSPACE(CHAR(u, i - 1))) || (end < u->n && Py_UNICODE_ISSPACE(CHAR(u, end)));
        return spaced ? end : -1;
    }
    return -1;
}

typedef struct {
    char *chars; /* in the input's kind: every character written is one of its own, or ASCII */
    Py_ssize_t length, capacity;
    PyObject *starts, *segments;
    Positions packed; /* per segment: its normalised start, original start and end, copied (for map_spans) */
} Normalizing;

static int add(Normalizing *out, const Chars *u, Py_ssize_t from, Py_ssize_t to, Py_UCS4 replacement,
               Py_ssize_t start, Py_ssize_t end, int copied, int translate) {
    /* `replacement` (one character) when non-zero, else u[from:to] (translated from full width) */
    Py_ssize_t size = replacement ? 1 : (to > from ? to - from : 0);
    if (size == 0) return 0;
    if (out->length + size > out->capacity) {
        Py_ssize_t capacity = 2 * (out->length + size);
        char *chars = PyMem_Realloc(out->chars, (size_t)(capacity * u->kind));
        if (!chars) {
            PyErr_NoMemory();
            return -1;
        }
        out->chars = chars;
        out->capacity = capacity;
    }
    if (replacement)
        PyUnicode_WRITE(u->kind, out->chars, out->length, replacement);
    else if (!translate)
        memcpy(out->chars + out->length * u->kind, (const char *)u->data + from * u->kind, (size_t)(size * u->kind));
    else
        for (Py_ssize_t i = 0; i < size; i++) {
            Py_UCS4 c = CHAR(u, from + i);
            PyUnicode_WRITE(u->kind, out->chars, out->length + i, c == 0x3000 ? ' ' : c - 0xFEE0);
        }
    PyObject *offset = PyLong_FromSsize_t(out->length);
    PyObject *segment = Py_BuildValue("(nnO)", start, end, copied ? Py_True : Py_False);
    int failed = !offset || !segment || PyList_Append(out->starts, offset) < 0 ||
                 PyList_Append(out->segments, segment) < 0 || push(&out->packed, out->length) < 0 ||
                 push(&out->packed, start) < 0 || push(&out->packed, end) < 0 || push(&out->packed, copied) < 0;
    Py_XDECREF(offset);
    Py_XDECREF(segment);
    out->length += size;
    return failed ? -1 : 0;
}

/* Where `_CHANGE_SCAN` can match next, from `i` (its first character class), or `n`. */
static int may_change(Py_UCS4 c) {
    return c < 128 ? (c == '@' || opening(c)) : (invisible(c) || wide(c));
}

#define SKIP(type)                                                                                             \
    do {                                                                                                       \
        const type *data = (const type *)u->data;                                                              \
        while (i < u->n && (data[i] < 128 ? !(data[i] == '@' || opening(data[i])) : !may_change(data[i]))) i++; \
    } while (0)

static Py_ssize_t next_change(const Chars *u, Py_ssize_t i) {
    if (u->kind == PyUnicode_1BYTE_KIND)
        SKIP(Py_UCS1);
    else if (u->kind == PyUnicode_2BYTE_KIND)
        SKIP(Py_UCS2);
    else
        SKIP(Py_UCS4);
    return i;
}

static PyObject *normalize(PyObject *Py_UNUSED(module), PyObject *text) {
    if (!PyUnicode_Check(text) || PyUnicode_READY(text) < 0) {
        PyErr_SetString(PyExc_TypeError, "normalize reads a str");
        return NULL;
    }
    Chars u = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    Normalizing out = {NULL, 0, 0, PyList_New(0), PyList_New(0), {0}};
    PyObject *result = NULL;
    Py_ssize_t position = 0, i = 0;
    if (!out.starts || !out.segments) goto done;
    if (PyUnicode_IS_ASCII(text)) { /* only `@` and brackets can change an ASCII text */
        const char *s = (const char *)PyUnicode_1BYTE_DATA(text);
        if (!memchr(s, '@', (size_t)u.n) && !memchr(s, '(', (size_t)u.n) && !memchr(s, '[', (size_t)u.n) &&
            !memchr(s, '{', (size_t)u.n) && !memchr(s, '<', (size_t)u.n)) {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    while ((i = next_change(&u, i)) < u.n) {
        int dot = 0;
        Py_UCS4 first = CHAR(&u, i);
        Py_ssize_t end = change_end(&u, i, &dot);
        if (end < 0) {
            i++;
            continue;
        }
        Py_ssize_t match_start = i, match_end = end, start = i;
        i = end; /* `finditer` goes on from the match's end, whatever is made of it */
        if (first == '@' || opening(first)) { /* `_widened`: the spaces around it, not before `position` */
            while (start > position && Py_UNICODE_ISSPACE(CHAR(&u, start - 1))) start--;
            while (end < u.n && Py_UNICODE_ISSPACE(CHAR(&u, end))) end++;
        }
        if (first == '@') {
            if ((start == match_start && end == match_end) || !(start > 0 && end < u.n)) continue;
            if (!(Py_UNICODE_ISALNUM(CHAR(&u, start - 1)) && Py_UNICODE_ISALNUM(CHAR(&u, end)))) continue;
        }
        if (add(&out, &u, position, start, 0, position, start, 1, 0) < 0) goto done;
        if (first == '@' || opening(first)) {
            if (add(&out, &u, 0, 0, dot ? '.' : '@', start, end, 0, 0) < 0) goto done;
        } else if (!invisible(first)) {
            if (add(&out, &u, match_start, match_end, 0, start, end, 1, 1) < 0) goto done;
        }
        position = end;
    }
    if (position == 0) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    if (add(&out, &u, position, u.n, 0, position, u.n, 1, 0) < 0) goto done;
    PyObject *normalized = PyUnicode_FromKindAndData(u.kind, out.chars, out.length);
    PyObject *packed = PyBytes_FromStringAndSize((const char *)out.packed.items,
                                                 (Py_ssize_t)(out.packed.count * (Py_ssize_t)sizeof(Py_ssize_t)));
    if (normalized && packed) result = Py_BuildValue("(NOON)", normalized, out.starts, out.segments, packed);
    else {
        Py_XDECREF(normalized);
        Py_XDECREF(packed);
    }
done:
    PyMem_Free(out.packed.items);
    PyMem_Free(out.chars);
    Py_XDECREF(out.starts);
    Py_XDECREF(out.segments);
    return result;
}

/* `Normalized.original_spans`: each (start, end) of the normalised text as the span of the original
 * it was read from; `packed` is what `normalize` returned last. */
static PyObject *map_spans(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyBytes_Check(args[0]) || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "map_spans(packed: bytes, spans: list[tuple[int, int]])");
        return NULL;
    }
    const Py_ssize_t *packed = (const Py_ssize_t *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t count = PyBytes_GET_SIZE(args[0]) / (Py_ssize_t)(4 * sizeof(Py_ssize_t));
    PyObject *spans = args[1], *result = PyList_New(PyList_GET_SIZE(spans));
#define NORMALIZED_START(i) packed[4 * (i)]
    for (Py_ssize_t k = 0; result && k < PyList_GET_SIZE(spans); k++) {
        Py_ssize_t start, end;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(spans, k), "nn", &start, &end)) {
            Py_CLEAR(result);
            break;
        }
        /* bisect_right(starts, position) - 1, from `low` */
        Py_ssize_t bounds[2] = {start, end - 1}, found[2] = {0, 0}, low = 0;
        for (int side = 0; side < 2; side++) {
            Py_ssize_t lo = low, hi = count;
            while (lo < hi) {
                Py_ssize_t mid = lo + (hi - lo) / 2;
                if (bounds[side] < NORMALIZED_START(mid)) hi = mid;
                else lo = mid + 1;
            }
            found[side] = low = lo - 1;
        }
        const Py_ssize_t *first = packed + 4 * found[0], *last = packed + 4 * found[1];
        Py_ssize_t begin = first[3] ? first[1] + (start - first[0]) : first[1];
        Py_ssize_t finish = last[3] ? last[1] + (end - last[0]) : last[2];
        PyObject *span = Py_BuildValue("(nn)", begin, finish);
        if (!span) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, k, span);
    }
#undef NORMALIZED_START
    return result;
}

/* --- the second pass's pieces: `pii._windows` ------------------------------------------------- */

/* A cut's side (`pii._CUT_SIDE`): printable ASCII but `@()[]{}<>`. */
static int cut_side(Py_UCS4 c) { return c > 0x20 && c < 0x7F && !strchr("@()[]{}<>", (int)c); }
static int decimal(Py_UCS4 c) { return c >= '0' && c <= '9'; }

/* `pii._CUT.match(text, space)`, the text read up to `endpos`. */
static int is_cut(const Chars *u, Py_ssize_t space, Py_ssize_t endpos) {
    if (space < 1 || space + 1 >= endpos || CHAR(u, space) != ' ') return 0;
    Py_UCS4 before = CHAR(u, space - 1), after = CHAR(u, space + 1);
    if (!cut_side(before) || !cut_side(after)) return 0;
    return !decimal(before) || !decimal(after);
}

static Py_ssize_t last_space(const Chars *u, Py_ssize_t from, Py_ssize_t to) { /* str.rfind(" ", from, to) */
    for (Py_ssize_t i = to - 1; i >= from; i--)
        if (CHAR(u, i) == ' ') return i;
    return -1;
}

static PyObject *windows(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2 || !PyUnicode_Check(args[0]) || PyUnicode_READY(args[0]) < 0 || !PyList_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "windows(text: str, spans: list[tuple[int, int]])");
        return NULL;
    }
    PyObject *text = args[0], *list = args[1];
    Chars u = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    Py_ssize_t count = PyList_GET_SIZE(list), size = u.n;
    Positions spans = {0};
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t start, end;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, k), "nn", &start, &end) || push_span(&spans, start, end) < 0) {
            PyMem_Free(spans.items);
            return NULL;
        }
    }
    PyObject *pieces = PyDict_New(), *result = NULL; /* in order, each once */
    Py_ssize_t floor = 0, index = 0;
    while (pieces && index < count) {
        Py_ssize_t start = spans.items[2 * index], end = spans.items[2 * index + 1], left = floor, right = size;
        Py_ssize_t space = start > floor + 2 ? last_space(&u, floor + 1, start - 1) : -1;
        while (space > floor) {
            if (is_cut(&u, space, size)) {
                left = space;
                break;
            }
            space = last_space(&u, floor + 1, space);
        }
        for (;;) {
            Py_ssize_t following = index + 1 < count ? spans.items[2 * index + 2] : size + 1, cut = -1;
            Py_ssize_t endpos = following < size ? following : size;
            for (Py_ssize_t i = end + 1; i < endpos && cut < 0; i++)
                if (is_cut(&u, i, endpos)) cut = i;
            if (cut >= 0) {
                right = cut;
                break;
            }
            if (index + 1 == count) break;
            index++;
            end = spans.items[2 * index + 1];
        }
        PyObject *piece = PyUnicode_Substring(text, left, right > left ? right : left);
        if (!piece || PyDict_SetItem(pieces, piece, Py_None) < 0) Py_CLEAR(pieces);
        Py_XDECREF(piece);
        floor = right;
        index++;
    }
    if (pieces) {
        PyObject *join = PyUnicode_FromString(" x"); /* `pii._JOIN` */
        if (join) result = PyUnicode_Join(join, pieces);
        Py_XDECREF(join);
    }
    Py_XDECREF(pieces);
    PyMem_Free(spans.items);
    return result;
}

static PyMethodDef METHODS[] = {
    {"windows", (PyCFunction)(void (*)(void))windows, METH_FASTCALL, "pii._windows: the second pass's pieces."},
    {"map_spans", (PyCFunction)(void (*)(void))map_spans, METH_FASTCALL, "Normalized.original_spans, from normalize's packed segments."},
    {"normalize", normalize, METH_O, "pii_detectors.normalize's (text, starts, segments, packed segments), or None."},
    {"scan", scan, METH_O, "Every detector's hot loop over an ASCII text (see the module's header)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_pii_scan", NULL, -1, METHODS, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__pii_scan(void) {
    init_classes();
    PyObject *module = PyModule_Create(&MODULE);
    if (module && PyModule_AddStringConstant(module, "SOURCE_SHA256", SOURCE_SHA256) < 0) Py_CLEAR(module);
    return module;
}
