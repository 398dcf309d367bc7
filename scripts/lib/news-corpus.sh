# shellcheck shell=bash
# Sourced by the benchmarks: news_jsonl WORK writes WORK/news.jsonl, 24 English news
# articles from 24 outlets, November 2019 (AP, BBC, Reuters, Al Jazeera, ...): the
# hand-checked article bodies of Scrapinghub's article-extraction-benchmark (MIT),
# which sits beside the checkout in ../shared/benchmarks (or $ABRIDGE_BENCHMARKS).
# Held out: no prompt, word list or threshold of abridge was tuned on them.
news_jsonl() {
  local work=$1
  local bench=${ABRIDGE_BENCHMARKS:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)/shared/benchmarks}
  local truth="$bench/article-extraction-benchmark/ground-truth.json"
  [ -s "$truth" ] || { echo "news corpus: $truth not found (set ABRIDGE_BENCHMARKS)" >&2; return 1; }
  python3 - "$truth" > "$work/news.jsonl" <<'PY'
import json, sys
# One article per outlet, news rather than reviews, guides or deals.
PICKS = [
    ("ap", "hosted.ap.org/citizensvoice"), ("bbc", "www.bbc.com/news/world-europe"),
    ("reuters", "www.reuters.com/"), ("aljazeera", "www.aljazeera.com/news/"),
    ("cnn", "www.cnn.com/2019/11/18/politics"), ("nbc", "www.nbcnews.com/news/world"),
    ("cbs", "www.cbsnews.com/news/michael-webb"), ("nypost", "nypost.com/2019/11/19"),
    ("sky", "news.sky.com/"), ("thehill", "thehill.com/homenews"),
    ("chron", "www.chron.com/news/world"), ("cnbc", "www.cnbc.com/2019/11/20"),
    ("rt", "www.rt.com/"), ("jpost", "www.jpost.com/"), ("albawaba", "www.albawaba.com/news/sweden"),
    ("techcrunch", "techcrunch.com/"), ("detroitnews", "www.detroitnews.com/story/news"),
    ("smithsonian", "www.smithsonianmag.com/"), ("space", "www.space.com/nasa"),
    ("timesunion", "www.timesunion.com/news"), ("deccanherald", "www.deccanherald.com/business"),
    ("indiapost", "www.indiapost.com/"), ("cityam", "www.cityam.com/"),
    ("sfgate", "www.sfgate.com/news/crime"),
]
truth = json.load(open(sys.argv[1]))
for name, pick in PICKS:
    pages = [v for v in truth.values() if pick in v["url"]]
    if not pages:
        sys.exit(f"news corpus: no page for {pick}")
    print(json.dumps({"id": f"news-{name}", "text": pages[0]["articleBody"], "url": pages[0]["url"]}))
PY
}
