"""The default topics and the keyword rule that suggests topics for an imported item.

The rule, as an editor would explain it: a topic fits an item when one of its keywords is in
the item's title, or when its keywords are mentioned at least `BODY_MENTIONS` times in the
summary and commentary together (a passing mention in the body is not what the item is about).
Deals always fit "investment". Latin keywords match whole words, ignoring case, so "AI" finds
"AI芯片" and "Open AI" but not "OpenAI" or "said".
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BODY_MENTIONS = 3


@dataclass(frozen=True)
class TopicSpec:
    slug: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    keywords: tuple[str, ...]
    position: int


DEFAULT_TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        slug="ai",
        name_zh="人工智能",
        name_en="AI",
        description_zh="大模型、生成式人工智能的进展，以及人工智能的治理与监管。",
        description_en="Large models and generative AI, and how AI is governed and regulated.",
        keywords=("人工智能", "AI", "AIGC", "OpenAI", "ChatGPT", "GPT", "Sora", "大模型",
                  "生成式", "文生视频", "智算", "算法", "语料", "机器学习", "深度学习",
                  "神经网络", "智能体", "深度伪造", "Deepfake", "LLM"),
        position=1,
    ),
    TopicSpec(
        slug="data",
        name_zh="数据要素与数据合规",
        name_en="Data & data compliance",
        description_zh="数据要素市场与数据交易、数据安全、个人信息保护和数据出境等合规要求。",
        description_en="Data markets and data trading, data security, personal information "
                       "and other data compliance rules.",
        keywords=("数据要素", "数据资产", "数据交易", "数据产权", "数据市场", "数据基础制度",
                  "数据治理", "数据安全", "数据合规", "数据保护", "数据跨境", "跨境数据",
                  "数据出境", "数据流动", "数据中心", "数据资源", "数据共享", "公共数据",
                  "数据分类分级", "个人信息", "隐私", "数据集", "GDPR"),
        position=2,
    ),
    TopicSpec(
        slug="digital-economy",
        name_zh="数字经济与产业政策",
        name_en="Digital economy & industry policy",
        description_zh="数字经济发展、产业数字化转型，以及国家和地方的产业政策与促进立法。",
        description_en="Growth of the digital economy, industrial digitalisation, and national "
                       "and local industry policy and legislation.",
        keywords=("数字经济", "产业政策", "数字化转型", "产业数字化", "数字产业化",
                  "数字基础设施", "数实融合", "实体经济", "平台经济", "新质生产力", "数字中国",
                  "工业互联网", "智能制造", "智慧城市", "智慧农业", "发展改革委", "发改委",
                  "工信部", "工业和信息化部"),
        position=3,
    ),
    TopicSpec(
        slug="cross-border",
        name_zh="跨境与国际监管",
        name_en="Cross-border & international regulation",
        description_zh="跨境数据与业务、境外（欧盟、美国等）监管新规，以及国际合作与治理。",
        description_en="Cross-border data and business, foreign (EU, US and other) regulation, "
                       "and international cooperation and governance.",
        keywords=("跨境", "出境", "境外", "离岸", "国际", "全球治理", "欧盟", "美国", "英国",
                  "出口管制", "制裁", "区域限制", "国家和地区", "国家或地区", "GDPR"),
        position=4,
    ),
    TopicSpec(
        slug="fintech",
        name_zh="金融科技与数字货币",
        name_en="Fintech & digital currency",
        description_zh="金融科技、支付与清算、央行数字货币和加密资产。",
        description_en="Fintech, payments and settlement, central bank digital currencies "
                       "and crypto assets.",
        keywords=("金融科技", "fintech", "数字货币", "数码货币", "数字人民币", "CBDC", "支付",
                  "清算", "区块链", "加密资产", "加密货币", "虚拟资产", "稳定币", "比特币",
                  "数字金融", "保险科技"),
        position=5,
    ),
    TopicSpec(
        slug="investment",
        name_zh="投融资与并购",
        name_en="Investment & M&A",
        description_zh="融资、投资与并购交易，以及相关的审查、反垄断和投资限制。",
        description_en="Funding rounds, investments and M&A, and the reviews, antitrust and "
                       "investment restrictions around them.",
        keywords=("融资", "投资", "并购", "收购", "合并", "估值", "风险投资", "领投", "创投",
                  "私募", "股权", "IPO", "上市", "反垄断"),
        position=6,
    ),
)


def suggest_topics(
    *,
    title: str,
    summary: str,
    commentary: str | None,
    section_key: str,
    rules: Mapping[str, Sequence[str]],
) -> list[str]:
    """Slugs of the topics that fit the item, in the order of `rules`."""
    body = f"{summary}\n{commentary or ''}"
    slugs: list[str] = []
    for slug, keywords in rules.items():
        pattern = _pattern(tuple(keywords))
        if (section_key == "deals" and slug == "investment") or (pattern is not None and (
                pattern.search(title) or len(pattern.findall(body)) >= BODY_MENTIONS)):
            slugs.append(slug)
    return slugs


@functools.lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex for a topic's keywords; longest first so overlapping ones count once."""
    words = sorted({k.strip() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile("|".join(_word(w) for w in words), re.IGNORECASE)


def _word(keyword: str) -> str:
    # Latin keywords must not run into other Latin letters ("AI" is not in "said");
    # Chinese has no word boundaries, so Chinese keywords match anywhere.
    before = r"(?<![A-Za-z])" if keyword[0].isascii() and keyword[0].isalpha() else ""
    after = r"(?![A-Za-z])" if keyword[-1].isascii() and keyword[-1].isalpha() else ""
    return before + re.escape(keyword) + after
