"""From predictor to assistant: a retriever, a reward model and preference tuning, at the
size of the course's facts.

The creator is a character-level `TinyGPT` (module 06's) trained on two kinds of line: a
sentence of *Emma* (ordinary text) and a question about a capital, with or without a line
of a knowledge table before it::

    France: Paris|The capital of France is Paris.
    |The capital of Japan is Tokyo.
    Chutex: Hyderabad|The capital of Chutex is Hyderabad.

Most questions in training are about invented countries, whose capitals are invented names
or real cities that are no country's capital (the last line), always
with their line, so the only way to answer them is to copy from the context: the model
learns to read what a retriever puts there. Real countries appear with and without their
line, except the few of `text.UNSEEN`, which never appear. `scripts/train_assistant.py`
trains it once and writes `assistant.pt`, which `load_creator` reads.

The judges around it are discriminative models:

* the retriever scores each line of the knowledge table against the question by the
  cosine of their TF-IDF vectors (scikit-learn's `TfidfVectorizer`) and puts the best one
  in the context;
* the reward model scores an answer to a country's question; it is trained on pairs
  (preferred, rejected) with the Bradley-Terry loss (Bradley and Terry, 1952; Ouyang et al.,
  2022), and sees each answer as counts of its characters' n-grams, so it can score any
  string, and each country it was trained on as weights of its own.

`best_of_n` draws n answers and keeps the one the reward model prefers; `dpo` tunes the
creator on preference pairs with the loss of direct preference optimisation (Rafailov et
al., 2023), against a frozen copy of itself. The exercises of the module's notebook (the
cosine scores, the Bradley-Terry loss, the choice of the best of n, a sequence's
log-probability and the DPO loss) are passed in wherever they are used; the package holds
none of them.

What this module leaves out: subword tokens, a learned retriever (dense embeddings), PPO
and the other reinforcement-learning loops of RLHF, a KV cache when sampling, and any
text beyond the facts and *Emma*.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import text
from ..gpt import TinyGPT
from ..threads import one_thread

__all__ = [
    "CHECKPOINT",
    "SEP",
    "REAL",
    "SEEN",
    "UNSEEN",
    "knowledge_row",
    "question",
    "invented_facts",
    "training_lines",
    "prose_lines",
    "Creator",
    "train_creator",
    "save_creator",
    "load_creator",
    "sample_answers",
    "verdicts",
    "rates",
    "Retriever",
    "misspell",
    "grounded_rates",
    "answer_features",
    "RewardModel",
    "preference_pairs",
    "train_reward_model",
    "pair_accuracy",
    "Pool",
    "draw_pool",
    "rescore",
    "best_of_n_sweep",
    "answer_logprobs",
    "DPORun",
    "dpo",
    "prose_loss",
    "gold_pairs",
    "judged_pairs",
    "Evaluation",
    "evaluate",
    "CITIES",
    "FEATURES",
]

CHECKPOINT = Path(__file__).with_name("assistant.pt")
SEP = "|"  # between the retrieved line and the question
REAL: dict[str, str] = dict(text.CAPITALS)
UNSEEN: tuple[str, ...] = text.UNSEEN
SEEN: tuple[str, ...] = tuple(c for c in REAL if c not in UNSEEN)
ANSWER_CHARS = 24  # an answer longer than this is cut there: no capital is


def knowledge_row(country: str, capital: str) -> str:
    """A line of the knowledge table: "Peru: Lima"."""
    return f"{country}: {capital}"


def question(country: str, row: str = "") -> str:
    """The prompt the creator completes: the retrieved line, `SEP`, and the question."""
    return f"{row}{SEP}The capital of {country} is"


# ---------------------------------------------------------------------------
# The training text


_ONSETS = (
    "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w",
    "y", "z", "br", "ch", "dr", "gr", "kh", "kr", "ph", "sh", "st", "th", "tr", "",
)  # fmt: skip
_VOWELS = ("a", "e", "i", "o", "u", "y", "ai", "au", "ei", "ia", "io", "ou", "ue")
_CODAS = ("", "", "", "n", "m", "r", "s", "k", "l", "nd", "st", "x")


def _invented_name(rng: np.random.Generator) -> str:
    syllables = int(rng.integers(1, 4))
    name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
    return (name + rng.choice(_CODAS))[:11].capitalize()


# Real cities that are no capital of `REAL`: half the invented countries get one of these
# as their capital, so the names the creator learns to copy look like real ones.
CITIES: tuple[str, ...] = (
    "Aachen", "Aberdeen", "Adelaide", "Agadir", "Alicante", "Almaty", "Antwerp", "Arequipa",
    "Asmara", "Aswan", "Auckland", "Bamako", "Bangalore", "Barcelona", "Bari", "Basel",
    "Bergen", "Bilbao", "Birmingham", "Bologna", "Bordeaux", "Boston", "Bremen", "Brisbane",
    "Bristol", "Brno", "Bukhara", "Busan", "Calgary", "Cali", "Cardiff", "Casablanca",
    "Chennai", "Chicago", "Chittagong", "Cologne", "Cordoba", "Cork", "Curitiba", "Daegu",
    "Dallas", "Darwin", "Debrecen", "Denver", "Dresden", "Dundee", "Durban", "Edinburgh",
    "Eindhoven", "Faro", "Fez", "Florence", "Fukuoka", "Gdansk", "Geneva", "Genoa", "Ghent",
    "Glasgow", "Gothenburg", "Granada", "Graz", "Guadalajara", "Hamburg", "Hanover",
    "Hiroshima", "Houston", "Hyderabad", "Innsbruck", "Izmir", "Jaipur", "Juba", "Kandy",
    "Kano", "Kazan", "Kharkiv", "Kobe", "Kolkata", "Krakow", "Kumasi", "Kyoto", "Lagos",
    "Lahore", "Leeds", "Leipzig", "Leon", "Lille", "Linz", "Liverpool", "Lodz", "Lucerne",
    "Lviv", "Lyon", "Madurai", "Malaga", "Malmo", "Manchester", "Mandalay", "Marrakesh",
    "Marseille", "Medellin", "Melbourne", "Memphis", "Milan", "Mombasa", "Montreal",
    "Mumbai", "Munich", "Nagoya", "Nantes", "Naples", "Nice", "Novosibirsk", "Odesa",
    "Omsk", "Oporto", "Osaka", "Oulu", "Palermo", "Perth", "Pisa", "Plovdiv", "Porto",
    "Poznan", "Pune", "Recife", "Rosario", "Rotterdam", "Salvador", "Salzburg", "Samara",
    "Sapporo", "Seattle", "Sendai", "Seville", "Shanghai", "Split", "Surabaya", "Sydney",
    "Tampere", "Tangier", "Tartu", "Toronto", "Toulouse", "Trieste", "Turin", "Turku",
    "Utrecht", "Valencia", "Vancouver", "Venice", "Verona", "Yokohama", "Zurich",
)  # fmt: skip


def _invented_capital(rng: np.random.Generator) -> str:
    draw = rng.random()
    if draw < 0.5:
        return str(rng.choice(CITIES))
    if draw < 0.6:  # two words, as in Addis Ababa or Kuala Lumpur
        return f"{_invented_name(rng)} {_invented_name(rng)}"
    return _invented_name(rng)


def invented_facts(count: int, seed: int = 0) -> dict[str, str]:
    """`count` invented countries, each with an invented capital, none a real one's name."""
    rng = np.random.default_rng(seed)
    real = set(REAL) | set(REAL.values())
    facts: dict[str, str] = {}
    while len(facts) < count:
        country, capital = _invented_name(rng), _invented_capital(rng)
        if len(country) > 3 and country not in real and capital not in real:
            facts[country] = capital
    return facts


def prose_lines(count: int, length: int = 60, seed: int = 0, held_out: bool = False) -> list[str]:
    """`count` passages of `length` characters of *Emma* (volume I): from its first nine
    tenths, or, `held_out`, from its last tenth, which training never reads."""
    prose = text.prose_corpus(volumes=1).replace("\n", " ")
    cut = int(len(prose) * 0.9)
    low, high = (cut, len(prose) - length) if held_out else (0, cut - length)
    starts = np.random.default_rng(seed).integers(low, high, count)
    return [prose[s : s + length] for s in starts]


def training_lines(count: int, seed: int = 0) -> list[str]:
    """The creator's training text, `count` lines, each ending in a line break.

    Fifteen in a hundred are passages of *Emma*; sixty-five questions about invented countries, with
    their line; a fifth questions about the real countries of `SEEN`, half of them with
    their line and half without. The countries of `UNSEEN` never appear.
    """
    rng = np.random.default_rng(seed)
    invented = list(invented_facts(2000, seed=seed).items())
    kinds = rng.choice(3, size=count, p=[0.15, 0.65, 0.2])
    prose = iter(prose_lines(int((kinds == 0).sum()), seed=seed))
    lines = []
    for kind in kinds:
        if kind == 0:
            lines.append(next(prose) + "\n")
            continue
        if kind == 1:
            country, capital = invented[rng.integers(len(invented))]
            row = knowledge_row(country, capital)
        else:
            country = SEEN[rng.integers(len(SEEN))]
            capital = REAL[country]
            row = knowledge_row(country, capital) if rng.random() < 0.5 else ""
        lines.append(f"{question(country, row)} {capital}.\n")
    return lines


# ---------------------------------------------------------------------------
# The creator


@dataclass
class Creator:
    """The language model and its alphabet.

    Attributes:
        net: a `TinyGPT`, in eval mode.
        vocab: its characters (`text.Vocab`).
        record: what training measured (steps, seconds, losses), as saved.
    """

    net: TinyGPT
    vocab: text.Vocab
    record: dict = field(default_factory=dict)

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(len(texts), longest) int64 ids, each text from position 0 and padded with line
        breaks, and each text's length."""
        longest = max(len(t) for t in texts)
        pad = self.vocab.encode("\n")[0]
        ids = torch.full((len(texts), longest), int(pad), dtype=torch.int64)
        for i, t in enumerate(texts):
            ids[i, : len(t)] = torch.as_tensor(self.vocab.encode(t))
        return ids, torch.tensor([len(t) for t in texts])

    def copy(self) -> Creator:
        """A copy with weights of its own."""
        return Creator(copy.deepcopy(self.net), self.vocab, dict(self.record))


def _line_batch(creator: Creator, lines: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, lengths = creator.encode_batch(lines)
    mask = torch.arange(ids.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
    return ids, mask


def train_creator(
    lines: Sequence[str],
    vocab: text.Vocab,
    steps: int = 1500,
    batch_size: int = 48,
    lr: float = 3e-3,
    seed: int = 0,
    d_model: int = 64,
    n_layers: int = 2,
    context: int = 96,
) -> Creator:
    """Train a `TinyGPT` to predict every character of each line from those before it.

    Each step takes `batch_size` lines at random, each read from its first character; the
    loss, the mean cross-entropy in nats, counts each line's characters up to its line
    break. AdamW; the learning rate warms up over 50 steps, then falls along a cosine to a
    tenth.
    """
    torch.manual_seed(seed)
    net = TinyGPT(len(vocab), context=context, d_model=d_model, n_heads=4, n_layers=n_layers)
    creator = Creator(net, vocab)
    vocab.encode("".join(sorted(set("".join(lines)))))  # a clear error for a stray character
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.01)
    history, running = [], None
    start, cpu = time.perf_counter(), time.process_time()
    net.train()
    with one_thread():
        for step in range(steps):
            for group in optimiser.param_groups:
                warm = min(1.0, (step + 1) / 50)
                group["lr"] = lr * warm * (0.1 + 0.45 * (1 + math.cos(math.pi * step / steps)))
            picked = rng.integers(len(lines), size=batch_size)
            ids, mask = _line_batch(creator, [lines[i] for i in picked])
            scores = net(ids[:, :-1])
            loss = F.cross_entropy(scores[mask], ids[:, 1:][mask])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            running = loss.item() if running is None else 0.97 * running + 0.03 * loss.item()
            if step % 50 == 0 or step == steps - 1:
                history.append((step + 1, running))
    net.eval()
    creator.record = {
        "steps": steps,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "history": history,
        "seed": seed,
        "lines": len(lines),
        "torch": str(torch.__version__),
    }
    return creator


def save_creator(creator: Creator, path: Path = CHECKPOINT) -> None:
    """Write the creator's weights (float16), its shape, alphabet and record to `path`."""
    net = creator.net
    torch.save(
        {
            "state": {k: v.half() for k, v in net.state_dict().items()},
            "shape": {
                "vocab_size": net.vocab_size,
                "context": net.context,
                "d_model": net.tok.embedding_dim,
                "n_layers": len(net.blocks),
            },
            "vocab": creator.vocab.chars,
            "record": creator.record,
        },
        path,
    )


def load_creator(path: Path = CHECKPOINT) -> Creator:
    """The creator `scripts/train_assistant.py` trained, as the package ships it."""
    saved = torch.load(path, weights_only=True)
    net = TinyGPT(n_heads=4, **saved["shape"])
    net.load_state_dict({k: v.float() for k, v in saved["state"].items()})
    net.eval()
    return Creator(net, text.Vocab(saved["vocab"]), saved["record"])


# ---------------------------------------------------------------------------
# Sampling and judging the answers


def _forward_cached(net: TinyGPT, ids: torch.Tensor, past: list | None, start: int):
    """`net`'s logits for `ids` (batch, t), which follow `start` ids whose keys and values
    are in `past` (None: none): (batch, t, vocab) logits and the keys and values so far.
    The same computation as `TinyGPT.forward`, each position computed once; after the
    first call, one position at a time."""
    if past is not None and ids.shape[1] != 1:
        raise ValueError("with keys and values kept, one position at a time")
    x = net.tok(ids) + net.pos(torch.arange(start, start + ids.shape[1]))
    kept = []
    for i, block in enumerate(net.blocks):
        q, k, v = block.attn.heads(block.ln1(x))
        if past is not None:
            k, v = torch.cat([past[i][0], k], 2), torch.cat([past[i][1], v], 2)
        kept.append((k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=past is None)
        x = x + block.attn.proj(out.transpose(1, 2).reshape(x.shape))
        x = x + block.proj(F.gelu(block.fc(block.ln2(x))))
    return net.head(net.ln_f(x)), kept


@torch.no_grad()
def sample_answers(
    creator: Creator,
    prompts: Sequence[str],
    temperature: float = 1.0,
    seed: int = 0,
    max_chars: int = ANSWER_CHARS,
) -> list[str]:
    """One completion of each prompt, drawn a character at a time at `temperature`, up to
    and including its first full stop or line break (or `max_chars` characters).

    Prompts of one length are drawn together, each character's keys and values kept (a
    cache), so a step costs one position, not the whole window.

    Returns:
        The completions, each starting with the character after its prompt (a space, if
        the creator learnt its lines).
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    longest = max((len(p) for p in prompts), default=0)
    if not 0 < longest < creator.net.context:
        raise ValueError(
            f"prompts of 1 to {creator.net.context - 1} characters: the creator reads at most "
            f"{creator.net.context}, and needs room for an answer (the longest given has {longest})"
        )
    generator = torch.Generator().manual_seed(seed)
    stop = torch.zeros(len(creator.vocab), dtype=torch.bool)
    stop[torch.as_tensor(creator.vocab.encode(".\n"))] = True
    answers: list[str] = [""] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    net = creator.net
    with one_thread():
        for length, members in sorted(by_length.items()):
            steps = min(max_chars, net.context - length)
            ids, _ = creator.encode_batch([prompts[i] for i in members])
            scores, past = _forward_cached(net, ids, None, 0)
            drawn = torch.zeros(len(members), 0, dtype=torch.int64)
            done = torch.zeros(len(members), dtype=torch.bool)
            for step in range(steps):
                probs = F.softmax(scores[:, -1] / temperature, -1)
                nxt = torch.multinomial(probs, 1, generator=generator)
                drawn = torch.cat([drawn, nxt], 1)
                done |= stop[nxt[:, 0]]
                if done.all() or step == steps - 1:
                    break
                scores, past = _forward_cached(net, nxt, past, length + step)
            for row, i in enumerate(members):
                chars = drawn[row].tolist()
                ends = [j for j, c in enumerate(chars) if stop[c]]
                answers[i] = creator.vocab.decode(chars[: ends[0] + 1] if ends else chars)
    return answers


def _answer(completion: str) -> str:
    """The answer a completion gives: up to its first full stop or line break, stripped."""
    return re.split(r"[.\n]", completion, maxsplit=1)[0].strip()


def verdicts(
    countries: Sequence[str], completions: Sequence[str], facts: dict[str, str] = REAL
) -> list[str]:
    """Each completion judged against the facts: "true", "false" (another country's
    capital: plausible, not true) or "nonsense" (not a capital at all)."""
    capitals = set(facts.values())
    out = []
    for country, completion in zip(countries, completions, strict=True):
        answer = _answer(completion)
        out.append(
            "true" if answer == facts[country] else "false" if answer in capitals else "nonsense"
        )
    return out


def rates(judged: Sequence[str]) -> dict[str, float]:
    """The share of "true", "false" and "nonsense" verdicts, and "not_true", the share of
    answers that are not true (false or nonsense): the false-fact rate."""
    if not judged:
        raise ValueError("no verdicts: a rate needs at least one answer")
    n = len(judged)
    out = {kind: sum(v == kind for v in judged) / n for kind in ("true", "false", "nonsense")}
    out["not_true"] = 1 - out["true"]
    return out


# ---------------------------------------------------------------------------
# The retriever


class Retriever:
    """A knowledge table and a TF-IDF index of its lines.

    Each line is a `knowledge_row`; the vectoriser is scikit-learn's `TfidfVectorizer`
    over the characters' 2- to 4-grams inside words, fitted on the table, so a question is
    a vector of the same length whatever its words. `best` takes the function that
    scores the rows, `score(query_vector, row_vectors) -> (rows,)`, the student's cosine.
    """

    def __init__(self, facts: dict[str, str] = REAL):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.facts = dict(facts)
        self.countries = list(facts)
        self.rows = [knowledge_row(c, facts[c]) for c in self.countries]
        # norm=None: the vectors keep their lengths, which the cosine of `best` discounts
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 4), lowercase=True, norm=None
        )
        self.matrix = self.vectorizer.fit_transform(self.rows).toarray()

    def vector(self, query: str) -> np.ndarray:
        """The query's TF-IDF vector, (features,) float64."""
        return self.vectorizer.transform([query]).toarray()[0]

    def best(self, query: str, score: Callable) -> int:
        """The index of the row `score` rates highest for the query (the first on ties)."""
        scores = np.asarray(score(self.vector(query), self.matrix), dtype=float)
        if scores.shape != (len(self.rows),):
            raise ValueError(
                f"score returned shape {scores.shape}; expected one score per row, "
                f"({len(self.rows)},)"
            )
        return int(np.argmax(scores))


def _share_copied(answers: Sequence[str], given: Sequence[str | None]) -> float:
    """The share of answers that repeat the capital given in their context."""
    return float(np.mean([_answer(a) == g for a, g in zip(answers, given, strict=True)]))


def misspell(word: str, rng: np.random.Generator) -> str:
    """`word` with one typing slip: two neighbouring letters swapped, one dropped or one
    doubled (never the first letter)."""
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0 and word[i] != word[i + 1]:  # swapping two equal letters would change nothing
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def grounded_rates(
    creator: Creator,
    retriever: Retriever,
    score: Callable,
    countries: Sequence[str],
    samples: int = 8,
    temperature: float = 1.0,
    typos: bool = False,
    seed: int = 0,
) -> dict[str, dict]:
    """The creator's answers about `countries` three ways: with no line (`"bare"`), with
    the line the retriever picks for the question (`"retrieved"`), and with another
    country's line (`"wrong"`).

    Args:
        score: the retriever's scorer (see `Retriever.best`).
        samples: answers drawn per country and way.
        typos: the question names each country with a typing slip (`misspell`), for the
            retriever and the creator alike; its answer is judged against the country meant.
    Returns:
        For each way: "rates" (`rates` of its answers), "copied" (the share that repeat the
        capital of the line given, right or wrong; 0 with no line) and "answers"; for
        "retrieved", also "hits", the share of questions given their own country's line.
    """
    rng = np.random.default_rng(seed)
    asked = [c for c in countries for _ in range(samples)]
    named = [misspell(c, rng) if typos else c for c in asked]
    picked = [retriever.best(question(name).removeprefix(SEP), score) for name in named]
    others = [
        (retriever.countries.index(c) + 1 + int(rng.integers(len(retriever.rows) - 1)))
        % len(retriever.rows)
        for c in asked
    ]
    ways = {
        "bare": ["" for _ in asked],
        "retrieved": [retriever.rows[i] for i in picked],
        "wrong": [retriever.rows[i] for i in others],
    }
    out = {}
    for k, (way, rows) in enumerate(ways.items()):
        prompts = [question(name, row) for name, row in zip(named, rows, strict=True)]
        answers = sample_answers(creator, prompts, temperature, seed=seed + k)
        given = [row.split(": ", 1)[1] if row else None for row in rows]
        out[way] = {
            "rates": rates(verdicts(asked, answers, retriever.facts)),
            "copied": _share_copied(answers, given),
            "answers": answers,
        }
    hits = [retriever.countries[i] == c for i, c in zip(picked, asked, strict=True)]
    out["retrieved"]["hits"] = float(np.mean(hits))
    return out


# ---------------------------------------------------------------------------
# The reward model

FEATURES = 1024  # buckets of hashed character n-grams


def answer_features(completions: Sequence[str], buckets: int = FEATURES) -> torch.Tensor:
    """Each answer as counts of its character 1-, 2- and 3-grams (with ^ and $ marking its
    start and end), hashed into `buckets` (CRC-32, the same on every machine), divided by
    the square root of their total: (len(completions), buckets) float32."""
    import zlib

    out = torch.zeros(len(completions), buckets)
    for i, completion in enumerate(completions):
        marked = f"^{_answer(completion)}$"
        grams = [marked[j : j + n] for n in (1, 2, 3) for j in range(len(marked) - n + 1)]
        for gram in grams:
            out[i, zlib.crc32(gram.encode()) % buckets] += 1.0
        out[i] /= math.sqrt(len(grams))
    return out


class RewardModel(nn.Module):
    """A score for an answer to "The capital of <country> is": higher is better.

    The score is a linear function of `answer_features`: weights shared by every country
    (what any good answer looks like) plus weights of the country's own, for the countries
    it was trained on; a country it has never seen has none (zero) and is scored by the
    shared weights alone.
    """

    def __init__(self, countries: Sequence[str], buckets: int = FEATURES):
        super().__init__()
        self.countries = list(countries)
        self.buckets = buckets
        self.shared = nn.Linear(buckets, 1)
        # the last row stands for any other country: zero, and never trained
        self.own = nn.Embedding(len(self.countries) + 1, buckets, padding_idx=len(self.countries))
        nn.init.zeros_(self.shared.weight)
        nn.init.zeros_(self.shared.bias)
        nn.init.zeros_(self.own.weight)

    def index(self, countries: Sequence[str]) -> torch.Tensor:
        known = {c: i for i, c in enumerate(self.countries)}
        return torch.tensor([known.get(c, len(self.countries)) for c in countries])

    def forward(self, countries: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        """(len(countries),) float32 scores."""
        x = answer_features(completions, self.buckets)
        return self.shared(x)[:, 0] + (x * self.own(self.index(countries))).sum(-1)

    @torch.no_grad()
    def score(self, countries: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        """The scores as a float64 array, without gradients."""
        return self(countries, completions).double().numpy()


def preference_pairs(
    countries: Sequence[str], per_country: int = 12, seed: int = 0
) -> list[tuple[str, str, str]]:
    """(country, preferred, rejected) completions: the true capital preferred to, in equal
    shares, another country's capital, the true capital misspelt, and an invented name."""
    rng = np.random.default_rng(seed)
    capitals = sorted(set(REAL.values()))
    invented = list(invented_facts(len(countries) * per_country, seed=seed + 1).values())
    pairs = []
    for country in countries:
        true = REAL[country]
        for k in range(per_country):
            kind = k % 3
            if kind == 0:
                wrong = rng.choice([c for c in capitals if c != true])
            elif kind == 1:
                wrong = misspell(true, rng)
                if wrong == true:  # too short to misspell
                    wrong = true[::-1].capitalize()
            else:
                wrong = invented.pop()
            pairs.append((country, f" {true}.", f" {wrong}."))
    return pairs


def train_reward_model(
    pairs: Sequence[tuple[str, str, str]],
    loss: Callable,
    countries: Sequence[str] | None = None,
    steps: int = 300,
    lr: float = 0.05,
    weight_decay: float = 1e-3,
    seed: int = 0,
) -> tuple[RewardModel, list[float]]:
    """Fit a `RewardModel` to preference pairs with Adam, every pair in every step.

    Args:
        pairs: (country, preferred, rejected) completions.
        loss: `loss(r_preferred, r_rejected) -> scalar tensor`, each (pairs,): the student's
            Bradley-Terry loss.
        countries: those given weights of their own; None: every country of `pairs`; []:
            none, a judge with the shared weights alone.
    Returns:
        The model and the loss after each step.
    """
    torch.manual_seed(seed)
    countries = sorted({p[0] for p in pairs}) if countries is None else countries
    model = RewardModel(countries)
    who = [p[0] for p in pairs]
    good = answer_features([p[1] for p in pairs])
    bad = answer_features([p[2] for p in pairs])
    index = model.index(who)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    with one_thread():
        for _ in range(steps):
            own, shared = model.own(index), model.shared.weight[0]
            r_good = good @ shared + model.shared.bias + (good * own).sum(-1)
            r_bad = bad @ shared + model.shared.bias + (bad * own).sum(-1)
            value = loss(r_good, r_bad)
            value = value + weight_decay * ((own**2).sum(-1).mean() + (shared**2).sum())
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            history.append(value.item())
    model.eval()
    return model, history


def pair_accuracy(model: RewardModel, pairs: Sequence[tuple[str, str, str]]) -> float:
    """The share of pairs whose preferred completion the model scores strictly higher."""
    who = [p[0] for p in pairs]
    good = model.score(who, [p[1] for p in pairs])
    bad = model.score(who, [p[2] for p in pairs])
    return float(np.mean(good > bad))


# ---------------------------------------------------------------------------
# Best of n


@dataclass
class Pool:
    """Answers drawn once, to be chosen from: `groups` draws of `n` answers per country.

    Attributes:
        countries: the countries asked about.
        answers: (countries, groups, n) object array of completions.
        rewards: (countries, groups, n) float64, the reward model's scores.
        verdicts: (countries, groups, n) "true", "false" or "nonsense".
    """

    countries: list[str]
    answers: np.ndarray
    rewards: np.ndarray
    verdicts: np.ndarray


def draw_pool(
    creator: Creator,
    reward_model: RewardModel,
    countries: Sequence[str],
    groups: int = 8,
    n: int = 16,
    temperature: float = 1.0,
    seed: int = 0,
) -> Pool:
    """`groups * n` answers to each country's question (no line retrieved), scored and judged."""
    asked = [c for c in countries for _ in range(groups * n)]
    answers = sample_answers(creator, [question(c) for c in asked], temperature, seed=seed)
    shape = (len(countries), groups, n)
    return Pool(
        list(countries),
        np.array(answers, dtype=object).reshape(shape),
        reward_model.score(asked, answers).reshape(shape),
        np.array(verdicts(asked, answers), dtype=object).reshape(shape),
    )


def rescore(pool: Pool, reward_model: RewardModel) -> Pool:
    """The same answers, scored by another reward model."""
    countries = np.repeat(pool.countries, pool.answers[0].size)
    rewards = reward_model.score(list(countries), list(pool.answers.ravel()))
    return Pool(pool.countries, pool.answers, rewards.reshape(pool.answers.shape), pool.verdicts)


def best_of_n_sweep(pool: Pool, pick: Callable, ns: Sequence[int] = (1, 2, 4, 8, 16)) -> dict:
    """What keeping the best of the first n answers of each group gives, for each n.

    Args:
        pick: `pick(rewards) -> (prompts,) indices`, rewards (prompts, n): the student's
            best-of-n choice.
    Returns:
        {n: {"seen": rates, "unseen": rates, "reward": mean reward of the answers kept,
        "distinct": mean number of different answers kept per country (out of `groups`),
        "length": mean number of characters of the answers kept,
        "kept": (countries, groups) object array of the answers kept}}.
    """
    countries, groups, most = pool.rewards.shape
    seen = np.array([c not in UNSEEN for c in pool.countries])
    out = {}
    for n in ns:
        if not 1 <= n <= most:
            raise ValueError(f"n = {n}: the pool holds {most} answers a group")
        rewards = pool.rewards[:, :, :n].reshape(-1, n)
        chosen = np.asarray(pick(rewards))
        if chosen.shape != (len(rewards),):
            raise ValueError(
                f"pick returned shape {chosen.shape}; expected one index per prompt, "
                f"({len(rewards)},)"
            )
        chosen = chosen.astype(int).reshape(countries, groups)
        judged, kept, rewards_kept = (
            np.take_along_axis(a[:, :, :n], chosen[..., None], 2)[..., 0]
            for a in (pool.verdicts, pool.answers, pool.rewards)
        )
        out[n] = {
            "seen": rates(list(judged[seen].ravel())),
            "unseen": rates(list(judged[~seen].ravel())),
            "reward": float(rewards_kept.mean()),
            "distinct": float(np.mean([len({_answer(a) for a in row}) for row in kept])),
            "length": float(np.mean([len(_answer(a)) for a in kept.ravel()])),
            "kept": kept,
        }
    return out


# ---------------------------------------------------------------------------
# Preference tuning


def answer_logprobs(
    creator: Creator, prompts: Sequence[str], completions: Sequence[str], logprob: Callable
) -> torch.Tensor:
    """The creator's log-probability of each completion after its prompt, (len(prompts),).

    Args:
        logprob: `logprob(logits, targets, mask) -> (batch,)`, the student's sequence
            log-probability: logits (batch, T, vocab), targets (batch, T) int64, mask
            (batch, T) bool, True at the completion's characters.
    """
    if not all(prompts):
        raise ValueError("every prompt needs at least one character: the first predicts the next")
    ids, lengths = creator.encode_batch([p + c for p, c in zip(prompts, completions, strict=True)])
    starts = torch.tensor([len(p) for p in prompts])
    positions = torch.arange(ids.shape[1] - 1)[None, :]
    # the target at position t is character t + 1: the completion's are starts .. length - 1
    mask = (positions >= starts[:, None] - 1) & (positions < lengths[:, None] - 1)
    return logprob(creator.net(ids[:, :-1]), ids[:, 1:], mask)


@dataclass
class DPORun:
    """A creator tuned by `dpo` and what it measured.

    Attributes:
        creator: the tuned creator.
        beta: DPO's beta.
        history: (step, loss, share of the batch's pairs whose preferred completion the
            tuned creator has raised more than the rejected one, relative to the reference).
        seconds: wall-clock time of the steps.
    """

    creator: Creator
    beta: float
    history: list[tuple[int, float, float]]
    seconds: float


def dpo(
    reference: Creator,
    pairs: Sequence[tuple[str, str, str]],
    beta: float,
    loss: Callable,
    logprob: Callable,
    steps: int = 100,
    batch_size: int = 32,
    lr: float = 1e-5,
    seed: int = 0,
    nll: float = 0.0,
) -> DPORun:
    """Tune a copy of `reference` on preference pairs with direct preference optimisation.

    Args:
        pairs: (prompt, preferred completion, rejected completion).
        loss: `loss(pi_preferred, pi_rejected, ref_preferred, ref_rejected, beta) ->
            scalar tensor`, each log-probability (batch,): the student's DPO loss.
        logprob: the student's sequence log-probability (see `answer_logprobs`).
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    policy = reference.copy()
    prompts, good, bad = ([p[i] for p in pairs] for i in range(3))
    with torch.no_grad(), one_thread():
        ref_good = answer_logprobs(reference, prompts, good, logprob)
        ref_bad = answer_logprobs(reference, prompts, bad, logprob)
    optimiser = torch.optim.Adam(policy.net.parameters(), lr=lr)
    history, start = [], time.perf_counter()
    policy.net.train()
    with one_thread():
        for step in range(steps):
            batch = rng.choice(len(pairs), size=min(batch_size, len(pairs)), replace=False)
            asked = [prompts[i] for i in batch]
            pi_good = answer_logprobs(policy, asked, [good[i] for i in batch], logprob)
            pi_bad = answer_logprobs(policy, asked, [bad[i] for i in batch], logprob)
            b = torch.as_tensor(batch)
            value = loss(pi_good, pi_bad, ref_good[b], ref_bad[b], beta)
            if nll:
                value = value - nll * pi_good.mean()
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            gained = (pi_good - pi_bad) > (ref_good[b] - ref_bad[b])
            history.append((step + 1, value.item(), gained.float().mean().item()))
    policy.net.eval()
    return DPORun(policy, beta, history, time.perf_counter() - start)


@torch.no_grad()
def prose_loss(creator: Creator, lines: Sequence[str] | None = None) -> float:
    """The creator's mean cross-entropy, nats per character, on passages of *Emma* it never
    trained on (by default 256 of the held-out tenth): ordinary text, not facts."""
    lines = lines if lines is not None else [p + "\n" for p in prose_lines(256, held_out=True)]
    with one_thread():
        ids, mask = _line_batch(creator, lines)
        scores = creator.net(ids[:, :-1])
        return float(F.cross_entropy(scores[mask], ids[:, 1:][mask]))


def gold_pairs(pool: Pool, per_country: int = 16) -> list[tuple[str, str, str]]:
    """Preference pairs as a careful human would label them, for the countries of `SEEN`:
    (question, the true answer, one of the creator's own answers from `pool` that is not
    true), `per_country` a country, cycling through its wrong answers (another country's
    capital where it gave none)."""
    pairs = []
    for i, country in enumerate(pool.countries):
        if country in UNSEEN:
            continue
        answers, judged = pool.answers[i].ravel(), pool.verdicts[i].ravel()
        wrong = [a for a, v in zip(answers, judged, strict=True) if v != "true"]
        for k in range(per_country):
            other = SEEN[(SEEN.index(country) + k + 1) % len(SEEN)]
            rejected = wrong[k % len(wrong)] if wrong else f" {REAL[other]}."
            pairs.append((question(country), f" {REAL[country]}.", rejected))
    return pairs


def judged_pairs(pool: Pool, per_country: int = 16) -> list[tuple[str, str, str]]:
    """Preference pairs labelled by the reward model that scored `pool`, for every country:
    two of the creator's answers, the one it scored higher preferred (pairs it scores the
    same, or of one answer twice, are skipped)."""
    pairs = []
    for i, country in enumerate(pool.countries):
        answers, rewards = pool.answers[i].ravel(), pool.rewards[i].ravel()
        for k in range(0, min(2 * per_country, len(answers) - 1), 2):
            (a, ra), (b, rb) = (answers[k], rewards[k]), (answers[k + 1], rewards[k + 1])
            if ra == rb or _answer(a) == _answer(b):
                continue
            pairs.append((question(country), a, b) if ra > rb else (question(country), b, a))
    return pairs


@dataclass
class Evaluation:
    """A creator's answers without retrieval, measured.

    Attributes:
        seen, unseen: `rates` of its answers about the countries of `SEEN` and of `UNSEEN`.
        distinct: the mean number of different answers per country among its draws.
        reward: the mean score the reward model gives them.
        length: the mean number of characters of an answer.
        prose_loss: nats per character on held-out *Emma* (`prose_loss`).
        samples: country -> its answers (the first few draws).
        pool: every answer drawn, scored by the reward model given (`rescore` scores them
            again with another).
    """

    seen: dict[str, float]
    unseen: dict[str, float]
    distinct: float
    reward: float
    length: float
    prose_loss: float
    samples: dict[str, list[str]]
    pool: Pool | None = None


def evaluate(
    creator: Creator,
    reward_model: RewardModel,
    draws: int = 16,
    temperature: float = 1.0,
    seed: int = 1,
) -> Evaluation:
    """`draws` answers about every country of `REAL`, without retrieval, measured."""
    pool = draw_pool(creator, reward_model, list(REAL), 1, draws, temperature, seed)
    seen = np.array([c not in UNSEEN for c in pool.countries])
    return Evaluation(
        seen=rates(list(pool.verdicts[seen].ravel())),
        unseen=rates(list(pool.verdicts[~seen].ravel())),
        distinct=float(np.mean([len({_answer(a) for a in row.ravel()}) for row in pool.answers])),
        reward=float(pool.rewards.mean()),
        length=float(np.mean([len(_answer(a)) for a in pool.answers.ravel()])),
        prose_loss=prose_loss(creator),
        samples={c: list(pool.answers[i, 0, :6]) for i, c in enumerate(pool.countries)},
        pool=pool,
    )
