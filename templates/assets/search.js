// Client-side search over the index paperroute/search.py writes under search/.
//
// A query fetches search/meta.json, then the dictionary shard(s) holding its terms, then only
// as many of a common term's postings segments as it takes to prove the top results, then the
// display blocks of the papers it shows. Every fetch is cached for the page's lifetime, so
// typing a longer word reuses what the shorter one fetched.
//
// Ranking is BM25F (weights and length normalisation precomputed in the index as integer
// impacts; idf computed here from document frequencies). All query words must match; the last
// word, while still being typed, matches every term it begins. Ranking uses the threshold
// algorithm: postings arrive best first, so once the k-th best fully known score beats the
// best score anything unread could still reach, the top k are final.
//
// Untrusted text (titles, authors, the query) only ever reaches the page as DOM text nodes.

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
const DIGIT = new Int8Array(128).fill(-1);
for (let index = 0; index < ALPHABET.length; index += 1) DIGIT[ALPHABET.charCodeAt(index)] = index;

const PAGE_SIZE = 10;
// Closing a conjunct (reading all its postings) beats stepping when it is at most this big.
const CLOSE_BUDGET = 4096;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

// ------------------------------------------------------------------ the tokenizer
// The same rules as paperroute/search.py (tests compare the two on tricky text).

const WORD = /[\p{L}\p{N}]+/gu;
const MARK = /\p{M}/gu;
const LAST_WORD_OPEN = /[\p{L}\p{N}\p{M}]$/u;

export function normalise(text) {
  return text.normalize("NFKD").toLowerCase().replace(MARK, "");
}

export function words(text) {
  return normalise(text).match(WORD) || [];
}

const codePoints = (word) => [...word].length;

export function stem(word) {
  if (codePoints(word) < 4 || !word.endsWith("s")) return word;
  if (word.endsWith("ies") && !word.endsWith("eies") && !word.endsWith("aies")) return word.slice(0, -3) + "y";
  if (word.endsWith("ss") || word.endsWith("us") || word.endsWith("is")) return word;
  return word.slice(0, -1);
}

export function isIndexed(word, stopWords) {
  return codePoints(word) >= 2 && !stopWords.has(word);
}

export function terms(text, stopWords) {
  return words(text).filter((word) => isIndexed(word, stopWords)).map(stem);
}

// A query as conjuncts: each must match. A conjunct is an exact term, a prefix, or both
// (the last word while it is being typed: "model" the term, and "model..." every term after).
export function parseQuery(query, stopWords, prefixMin) {
  const found = words(query);
  const open = LAST_WORD_OPEN.test(query);
  const conjuncts = [];
  const seen = new Set();
  found.forEach((word, position) => {
    const exact = isIndexed(word, stopWords) ? stem(word) : null;
    const prefix = open && position === found.length - 1 && codePoints(word) >= prefixMin ? word : null;
    const key = `${exact} ${prefix}`;
    if ((exact || prefix) && !seen.has(key)) {
      seen.add(key);
      conjuncts.push({ exact, prefix });
    }
  });
  return conjuncts;
}

// ------------------------------------------------------------------ decoding

export function decodeVarints(text) {
  const numbers = [];
  let value = 0;
  let shift = 0;
  for (let index = 0; index < text.length; index += 1) {
    const digit = DIGIT[text.charCodeAt(index)];
    if (digit >= 32) {
      value += (digit - 32) * 2 ** shift;
      shift += 5;
    } else {
      numbers.push(value + digit * 2 ** shift);
      value = 0;
      shift = 0;
    }
  }
  return numbers;
}

// Descending ids: the first, then the drop to each next one.
function decodeIds(numbers, start, end, visit) {
  let id = 0;
  for (let index = start; index < end; index += 1) {
    id = index === start ? numbers[index] : id - numbers[index];
    visit(id);
  }
}

// Groups, best first: impact (absolute, then the drop), count, ids.
export function decodePostings(text, visit) {
  const numbers = decodeVarints(text);
  let position = 0;
  let impact = null;
  while (position < numbers.length) {
    impact = impact === null ? numbers[position] : impact - numbers[position];
    const count = numbers[position + 1];
    const groupImpact = impact;
    decodeIds(numbers, position + 2, position + 2 + count, (id) => visit(groupImpact, id));
    position += 2 + count;
  }
}

// ------------------------------------------------------------------ the index

class SearchIndex {
  constructor(metaUrl) {
    this.base = new URL(".", metaUrl);
    this.cache = new Map();
    this.meta = null;
    this.metaUrl = metaUrl;
  }

  fetchJson(path) {
    const url = new URL(path, this.base).href;
    if (!this.cache.has(url)) {
      const request = fetch(url).then((response) => {
        if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
        return response.json();
      });
      request.catch(() => this.cache.delete(url));
      this.cache.set(url, request);
    }
    return this.cache.get(url);
  }

  async load() {
    if (!this.meta) {
      this.meta = await this.fetchJson(this.metaUrl);
      this.stopWords = new Set(this.meta.stopwords.split(" "));
    }
    return this.meta;
  }

  // The shard a term lives in: the last whose key is not above it.
  shardOf(term) {
    const keys = this.meta.shards;
    let low = 0;
    let high = keys.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (keys[middle] <= term) low = middle;
      else high = middle - 1;
    }
    return low;
  }

  // The shards of the prefix's terms, or null when the prefix begins too many words to be worth
  // fetching (the reader is still typing; a letter more narrows it).
  prefixShards(prefix) {
    const first = this.shardOf(prefix);
    const last = this.shardOf(prefix + "\uffff");
    if (last - first + 1 > this.meta.prefix_shards) return null;
    return Array.from({ length: last - first + 1 }, (_, offset) => first + offset);
  }

  idf(df) {
    const docs = this.meta.docs;
    return Math.log(1 + (docs - df + 0.5) / (df + 0.5));
  }

  // A conjunct with its matching terms ("alternatives") and what is known of its postings.
  async conjunct(spec) {
    const prefixShards = spec.prefix ? this.prefixShards(spec.prefix) : null;
    const numbers = new Set(prefixShards || []);
    if (spec.exact) numbers.add(this.shardOf(spec.exact));
    const shards = await Promise.all([...numbers].map((number) => this.fetchJson(`t/${number}.json`)));
    const alternatives = new Map();
    for (const shard of shards) {
      if (spec.exact && Object.hasOwn(shard, spec.exact)) alternatives.set(spec.exact, shard[spec.exact]);
      if (prefixShards) {
        for (const term of Object.keys(shard)) {
          if (term.startsWith(spec.prefix)) alternatives.set(term, shard[term]);
        }
      }
    }
    const conjunct = { spec, broad: Boolean(spec.prefix) && !prefixShards, scores: new Map(), alternatives: [] };
    for (const [term, entry] of alternatives) {
      const [df, head, bounds = [], file = term] = entry;
      const alternative = { term, df, idf: this.idf(df), bounds, file, loaded: 1, read: 0 };
      conjunct.alternatives.push(alternative);
      this.addPostings(conjunct, alternative, head);
    }
    return conjunct;
  }

  addPostings(conjunct, alternative, encoded) {
    const { idf } = alternative;
    const scores = conjunct.scores;
    decodePostings(encoded, (impact, id) => {
      const score = idf * impact;
      const known = scores.get(id);
      if (known === undefined || known < score) scores.set(id, score);
      alternative.read += 1;
    });
  }

  async loadNextSegment(conjunct, alternative) {
    const number = alternative.loaded;
    const encoded = await this.fetchJson(`p/${alternative.file}-${number}.json`);
    if (alternative.loaded === number) {
      alternative.loaded += 1;
      this.addPostings(conjunct, alternative, encoded);
    }
  }

  async loadAll(conjunct) {
    await Promise.all(conjunct.alternatives.map(async (alternative) => {
      while (alternative.loaded <= alternative.bounds.length) await this.loadNextSegment(conjunct, alternative);
    }));
  }

  async filter(filters) {
    let low = 0;
    let high = this.meta.docs - 1;
    if (filters.from || filters.to) {
      const days = await this.days();
      if (filters.from) low = firstId(days, (date) => date >= filters.from, this.meta.docs);
      if (filters.to) high = firstId(days, (date) => date > filters.to, this.meta.docs) - 1;
    }
    let topic = null;
    if (filters.topic) {
      const number = this.meta.topics.findIndex(([slug]) => slug === filters.topic);
      topic = new Uint8Array(this.meta.docs);
      if (number >= 0) {
        const numbers = decodeVarints(await this.fetchJson(`topic/${number}.json`));
        decodeIds(numbers, 0, numbers.length, (id) => { topic[id] = 1; });
      }
    }
    return (id) => id >= low && id <= high && (topic === null || topic[id] === 1);
  }

  // [date, first id] for every listed day, oldest first.
  async days() {
    const numbers = decodeVarints(await this.fetchJson("dates.json"));
    const days = [];
    let date = this.meta.first ? Date.parse(`${this.meta.first}T00:00:00Z`) : 0;
    let id = 0;
    for (let index = 0; index < numbers.length; index += 2) {
      date += numbers[index] * 86400000;
      days.push([new Date(date).toISOString().slice(0, 10), id]);
      id += numbers[index + 1];
    }
    return days;
  }

  async records(ids) {
    const size = this.meta.block;
    const blocks = await Promise.all(ids.map((id) => this.fetchJson(`d/${Math.floor(id / size)}.json`)));
    return ids.map((id, index) => blocks[index][id % size]);
  }
}

function firstId(days, isAfter, docs) {
  const found = days.find(([date]) => isAfter(date));
  return found ? found[1] : docs;
}

const remaining = (conjunct) => conjunct.alternatives.reduce((sum, alt) => sum + alt.df - alt.read, 0);
const isComplete = (conjunct) => conjunct.alternatives.every((alt) => alt.loaded > alt.bounds.length);

// The best score a posting not yet read could add for this conjunct.
function ceiling(conjunct) {
  let best = 0;
  for (const alt of conjunct.alternatives) {
    if (alt.loaded <= alt.bounds.length) best = Math.max(best, alt.idf * alt.bounds[alt.loaded - 1]);
  }
  return best;
}

// The top `k` papers matching every conjunct, reading postings only as far as needed.
// Returns the hits known so far (best first) and the exact total when it is known.
async function rank(index, conjuncts, accepts, k) {
  for (;;) {
    const complete = conjuncts.map(isComplete);
    const closed = conjuncts.filter(isComplete).sort((a, b) => a.scores.size - b.scores.size)[0];
    const ceilings = conjuncts.map(ceiling);
    const sources = closed ? [closed] : conjuncts;
    const hits = [];
    let pendingBest = -Infinity;
    sources.forEach((source, sourceNumber) => {
      for (const id of source.scores.keys()) {
        if (sources.slice(0, sourceNumber).some((earlier) => earlier.scores.has(id)) || !accepts(id)) continue;
        let score = 0;
        let bound = 0;
        let known = true;
        let excluded = false;
        conjuncts.forEach((conjunct, number) => {
          const part = conjunct.scores.get(id);
          if (part !== undefined) {
            score += part;
            bound += part;
          } else if (complete[number]) {
            excluded = true;
          } else {
            known = false;
            bound += ceilings[number];
          }
        });
        if (excluded) continue;
        if (known) hits.push({ id, score });
        else pendingBest = Math.max(pendingBest, bound);
      }
    });
    hits.sort((a, b) => b.score - a.score || b.id - a.id);
    const unseenBest = closed ? -Infinity : ceilings.reduce((sum, value) => sum + value, 0);
    const threshold = Math.max(pendingBest, unseenBest);
    if (threshold === -Infinity) return { hits, total: hits.length };
    if (hits.length >= k && hits[k - 1].score > threshold) return { hits, total: null };

    const open = conjuncts.filter((conjunct) => !isComplete(conjunct));
    const cheapest = open.reduce((best, conjunct) => (remaining(conjunct) < remaining(best) ? conjunct : best));
    if (!closed && conjuncts.length > 1 && remaining(cheapest) <= CLOSE_BUDGET) {
      await index.loadAll(cheapest);
    } else {
      const stepping = open.reduce((best, conjunct) => (ceiling(conjunct) > ceiling(best) ? conjunct : best));
      const alternative = stepping.alternatives
        .filter((alt) => alt.loaded <= alt.bounds.length)
        .reduce((best, alt) => (alt.idf * alt.bounds[alt.loaded - 1] > best.idf * best.bounds[best.loaded - 1] ? alt : best));
      await index.loadNextSegment(stepping, alternative);
    }
  }
}

// ------------------------------------------------------------------ the page

function matcher(conjuncts, stopWords) {
  const exact = new Set(conjuncts.map((conjunct) => conjunct.exact).filter(Boolean));
  const prefixes = conjuncts.map((conjunct) => conjunct.prefix).filter(Boolean);
  return (span) => words(span).some((word) =>
    (isIndexed(word, stopWords) && exact.has(stem(word))) || prefixes.some((prefix) => word.startsWith(prefix)));
}

// `text` into `parent` as text nodes, the words that match wrapped in <mark>.
function appendHighlighted(parent, text, matches) {
  const span = /[\p{L}\p{N}\p{M}]+/gu;
  let last = 0;
  for (const found of text.matchAll(span)) {
    if (!matches(found[0])) continue;
    if (found.index > last) parent.append(document.createTextNode(text.slice(last, found.index)));
    const mark = document.createElement("mark");
    mark.textContent = found[0];
    parent.append(mark);
    last = found.index + found[0].length;
  }
  if (last < text.length) parent.append(document.createTextNode(text.slice(last)));
}

function shortDate(iso) {
  const [year, month, day] = iso.split("-").map(Number);
  return `${day} ${MONTHS[month - 1]} ${year}`;
}

function plural(count, noun) {
  return `${count.toLocaleString("en")} ${noun}${count === 1 ? "" : "s"}`;
}

class SearchPage {
  constructor(form) {
    this.form = form;
    this.input = form.querySelector("input[type=search]");
    this.topic = form.querySelector("select[name=topic]");
    this.from = form.querySelector("input[name=from]");
    this.to = form.querySelector("input[name=to]");
    this.results = document.getElementById("results");
    this.status = document.getElementById("search-status");
    this.more = document.getElementById("search-more");
    this.index = new SearchIndex(new URL(form.dataset.index, document.baseURI).href);
    this.generation = 0;
    this.shown = PAGE_SIZE;
  }

  start() {
    const params = new URLSearchParams(window.location.search);
    this.input.value = params.get("q") || "";
    if (this.topic) this.topic.value = params.get("topic") || "";
    if (this.from) this.from.value = params.get("from") || "";
    if (this.to) this.to.value = params.get("to") || "";
    const rerun = () => { this.shown = PAGE_SIZE; this.run(); };
    this.input.addEventListener("input", rerun);
    for (const control of [this.topic, this.from, this.to]) control?.addEventListener("change", rerun);
    this.form.addEventListener("submit", (event) => { event.preventDefault(); rerun(); });
    this.more.addEventListener("click", () => { this.shown += PAGE_SIZE; this.run(); });
    this.input.addEventListener("keydown", (event) => this.keyFromInput(event));
    this.results.addEventListener("keydown", (event) => this.keyFromResults(event));
    document.addEventListener("keydown", (event) => {
      if (event.key === "/" && !event.target.closest("input, select, textarea")) {
        event.preventDefault();
        this.input.focus();
      }
    });
    this.index.load().then((meta) => {
      if (this.from) { this.from.min = this.to.min = meta.first || ""; this.from.max = this.to.max = meta.last || ""; }
    }, () => {});
    this.run();
  }

  filters() {
    return { topic: this.topic?.value || "", from: this.from?.value || "", to: this.to?.value || "" };
  }

  syncUrl(query, filters) {
    const params = new URLSearchParams();
    if (query) params.set("q", query);
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    const search = params.toString();
    const url = `${window.location.pathname}${search ? `?${search}` : ""}${window.location.hash}`;
    if (url !== `${window.location.pathname}${window.location.search}${window.location.hash}`) {
      window.history.replaceState(window.history.state, "", url);
    }
  }

  async run() {
    const generation = ++this.generation;
    const query = this.input.value;
    const filters = this.filters();
    this.syncUrl(query, filters);
    this.results.setAttribute("aria-busy", "true");
    try {
      const meta = await this.index.load();
      const specs = parseQuery(query, this.index.stopWords, meta.prefix);
      if (specs.length === 0) {
        if (generation !== this.generation) return;
        this.show([], null, query, filters, meta, []);
        return;
      }
      const conjuncts = await Promise.all(specs.map((spec) => this.index.conjunct(spec)));
      const accepts = await this.index.filter(filters);
      const ranked = await rank(this.index, conjuncts, accepts, this.shown);
      const { hits } = ranked;
      // One term and no filter: its document frequency is the count, known without reading on.
      const single = conjuncts.length === 1 && conjuncts[0].alternatives.length === 1 && !Object.values(filters).some(Boolean);
      const total = ranked.total ?? (single ? conjuncts[0].alternatives[0].df : null);
      const shown = hits.slice(0, this.shown);
      const records = await this.index.records(shown.map((hit) => hit.id));
      if (generation !== this.generation) return;
      this.show(records, total, query, filters, meta, specs, hits.length > shown.length || total === null,
        conjuncts.some((conjunct) => conjunct.broad));
    } catch (error) {
      if (generation !== this.generation) return;
      this.results.replaceChildren();
      this.status.textContent = "Search is unavailable: its index could not be loaded.";
      this.more.hidden = true;
      this.results.removeAttribute("aria-busy");
      console.error(error);
    }
  }

  show(records, total, query, filters, meta, specs, more = false, broad = false) {
    const matches = matcher(specs, this.index.stopWords);
    const paperUrl = (slug) => new URL(meta.paper.replace("{slug}", encodeURIComponent(slug)), this.index.base).href;
    const topicNames = new Map(meta.topics.map(([slug, name], number) => [number, name]));
    const items = records.map(([slug, title, date, topics, authors, moreAuthors]) => {
      const item = document.createElement("li");
      item.className = "search-hit";
      const link = document.createElement("a");
      link.href = paperUrl(slug);
      appendHighlighted(link, title, matches);
      const details = document.createElement("p");
      details.className = "search-hit-meta";
      const time = document.createElement("time");
      time.dateTime = date;
      time.textContent = shortDate(date);
      details.append(time);
      const names = topics.map((number) => topicNames.get(number)).filter(Boolean);
      if (names.length) details.append(document.createTextNode(` · ${names.join(", ")}`));
      if (authors.length) {
        details.append(document.createTextNode(" · "));
        const byline = document.createElement("span");
        byline.className = "authors";
        appendHighlighted(byline, authors.join(", "), matches);
        if (moreAuthors) byline.append(document.createTextNode(` and ${moreAuthors} more`));
        details.append(byline);
      }
      item.append(link, details);
      return item;
    });
    this.results.replaceChildren(...items);
    this.status.textContent = this.statusText(records.length, total, query, filters, meta, specs, broad);
    this.more.hidden = !more;
    this.results.removeAttribute("aria-busy");
  }

  statusText(count, total, query, filters, meta, specs, broad) {
    const filtered = Boolean(filters.topic || filters.from || filters.to);
    if (specs.length === 0) {
      return query.trim() ? "Type a longer word to search." : `Search ${plural(meta.docs, "paper")} by title, author or abstract.`;
    }
    if (count === 0 && broad) return `Keep typing: “${query.trim()}” begins too many words to search yet.`;
    if (count === 0) {
      return `No papers match “${query.trim()}”${filtered ? " with these filters" : ""}.`;
    }
    if (total !== null) return `${plural(total, "paper")} ${total === 1 ? "matches" : "match"}.`;
    return `The best ${count.toLocaleString("en")} matches.`;
  }

  keyFromInput(event) {
    if (event.key === "ArrowDown") {
      const first = this.results.querySelector("a");
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  keyFromResults(event) {
    const links = [...this.results.querySelectorAll("li > a")];
    const position = links.indexOf(document.activeElement);
    if (position < 0) return;
    if (event.key === "ArrowDown" && position + 1 < links.length) {
      event.preventDefault();
      links[position + 1].focus();
    } else if (event.key === "ArrowUp") {
      event.preventDefault();
      (position > 0 ? links[position - 1] : this.input).focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      this.input.focus();
    }
  }
}

const form = document.querySelector("form[data-index]");
if (form) new SearchPage(form).start();
