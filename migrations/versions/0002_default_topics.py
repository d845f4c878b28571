"""default topics

The taxonomy readers choose from on a fresh database, with the keyword rules the importer uses
to suggest topics. Frozen here as data: later edits happen in the admin console, and a changed
default in the code must not rewrite what admins have edited.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_TOPICS = [{'slug': 'ai',
  'name_zh': '人工智能',
  'name_en': 'AI',
  'description_zh': '大模型、生成式人工智能的进展，以及人工智能的治理与监管。',
  'description_en': 'Large models and generative AI, and how AI is governed and regulated.',
  'keywords': ['人工智能',
               'AI',
               'AIGC',
               'OpenAI',
               'ChatGPT',
               'GPT',
               'Sora',
               '大模型',
               '生成式',
               '文生视频',
               '智算',
               '算法',
               '语料',
               '机器学习',
               '深度学习',
               '神经网络',
               '智能体',
               '深度伪造',
               'Deepfake',
               'LLM'],
  'position': 1,
  'retired': False},
 {'slug': 'data',
  'name_zh': '数据要素与数据合规',
  'name_en': 'Data & data compliance',
  'description_zh': '数据要素市场与数据交易、数据安全、个人信息保护和数据出境等合规要求。',
  'description_en': 'Data markets and data trading, data security, personal information and '
                    'other data compliance rules.',
  'keywords': ['数据要素',
               '数据资产',
               '数据交易',
               '数据产权',
               '数据市场',
               '数据基础制度',
               '数据治理',
               '数据安全',
               '数据合规',
               '数据保护',
               '数据跨境',
               '跨境数据',
               '数据出境',
               '数据流动',
               '数据中心',
               '数据资源',
               '数据共享',
               '公共数据',
               '数据分类分级',
               '个人信息',
               '隐私',
               '数据集',
               'GDPR'],
  'position': 2,
  'retired': False},
 {'slug': 'digital-economy',
  'name_zh': '数字经济与产业政策',
  'name_en': 'Digital economy & industry policy',
  'description_zh': '数字经济发展、产业数字化转型，以及国家和地方的产业政策与促进立法。',
  'description_en': 'Growth of the digital economy, industrial digitalisation, and national '
                    'and local industry policy and legislation.',
  'keywords': ['数字经济',
               '产业政策',
               '数字化转型',
               '产业数字化',
               '数字产业化',
               '数字基础设施',
               '数实融合',
               '实体经济',
               '平台经济',
               '新质生产力',
               '数字中国',
               '工业互联网',
               '智能制造',
               '智慧城市',
               '智慧农业',
               '发展改革委',
               '发改委',
               '工信部',
               '工业和信息化部'],
  'position': 3,
  'retired': False},
 {'slug': 'cross-border',
  'name_zh': '跨境与国际监管',
  'name_en': 'Cross-border & international regulation',
  'description_zh': '跨境数据与业务、境外（欧盟、美国等）监管新规，以及国际合作与治理。',
  'description_en': 'Cross-border data and business, foreign (EU, US and other) regulation, '
                    'and international cooperation and governance.',
  'keywords': ['跨境',
               '出境',
               '境外',
               '离岸',
               '国际',
               '全球治理',
               '欧盟',
               '美国',
               '英国',
               '出口管制',
               '制裁',
               '区域限制',
               '国家和地区',
               '国家或地区',
               'GDPR'],
  'position': 4,
  'retired': False},
 {'slug': 'fintech',
  'name_zh': '金融科技与数字货币',
  'name_en': 'Fintech & digital currency',
  'description_zh': '金融科技、支付与清算、央行数字货币和加密资产。',
  'description_en': 'Fintech, payments and settlement, central bank digital currencies and '
                    'crypto assets.',
  'keywords': ['金融科技',
               'fintech',
               '数字货币',
               '数码货币',
               '数字人民币',
               'CBDC',
               '支付',
               '清算',
               '区块链',
               '加密资产',
               '加密货币',
               '虚拟资产',
               '稳定币',
               '比特币',
               '数字金融',
               '保险科技'],
  'position': 5,
  'retired': False},
 {'slug': 'investment',
  'name_zh': '投融资与并购',
  'name_en': 'Investment & M&A',
  'description_zh': '融资、投资与并购交易，以及相关的审查、反垄断和投资限制。',
  'description_en': 'Funding rounds, investments and M&A, and the reviews, antitrust and '
                    'investment restrictions around them.',
  'keywords': ['融资',
               '投资',
               '并购',
               '收购',
               '合并',
               '估值',
               '风险投资',
               '领投',
               '创投',
               '私募',
               '股权',
               'IPO',
               '上市',
               '反垄断'],
  'position': 6,
  'retired': False}]

topics = sa.table(
    "topics",
    sa.column("slug", sa.String),
    sa.column("name_zh", sa.String),
    sa.column("name_en", sa.String),
    sa.column("description_zh", sa.Text),
    sa.column("description_en", sa.Text),
    sa.column("keywords", sa.JSON),
    sa.column("position", sa.Integer),
    sa.column("retired", sa.Boolean),
)


def upgrade() -> None:
    op.bulk_insert(topics, DEFAULT_TOPICS)


def downgrade() -> None:
    slugs = [row["slug"] for row in DEFAULT_TOPICS]
    op.execute(topics.delete().where(topics.c.slug.in_(slugs)))
