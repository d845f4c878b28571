"""Chrome strings (headings, footer, greetings, system mails) in zh-CN and en."""

from __future__ import annotations

import re
from datetime import date
from typing import Final


def _mail_strings(kind: str, **parts: str) -> dict[str, str]:
    """A system mail's strings as `kind.part` entries. (Written out, the password reset's keys
    look like hard-coded passwords to bandit's B105.)"""
    return {f"{kind}.{part}": text for part, text in parts.items()}


CATALOGUE: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "section.policy": "政策速递",
        "section.industry": "行业新闻",
        "section.deals": "交易资讯",
        "in_chinese": "（中文）",
        "partly_in_chinese": "（部分为中文）",
        "report_of": "{org}月报",
        "report": "月报",
        "toc": "本期目录",
        "toc_more": "还有 {count} 条",
        "greeting_named": "尊敬的{name}：",
        "greeting_anonymous": "尊敬的读者：",
        "read_more": "阅读全文",
        "view_online": "在线阅读",
        "preferences": "订阅偏好",
        "unsubscribe": "退订",
        "links": "链接",
        "colon": "：",
        "why_edition": "您收到本邮件，是因为您订阅了{org}的《{report}》，并选择了本期涉及的主题。",
        "subject": "{first}｜{title} · {month}",
        "preheader": "本期要点：{titles}",
        "preheader_more": "本期 {count} 条，另有：{titles}",
        "preheader_count": "本期 {count} 条",
        "list_separator": "；",
        "system_subtitle": "月报订阅",
        "copy_link": "如果按钮无法点击，请复制以下链接到浏览器中打开：",
        "confirm.subject": "请确认订阅{org}月报",
        "confirm.heading": "请确认您的订阅",
        "confirm.body": (
            "感谢您订阅{org}的月报。请点击下方按钮确认；确认后，"
            "我们每月只会向您发送一封包含您所选主题的月报。"
        ),
        "confirm.button": "确认订阅",
        "confirm.why": (
            "您收到本邮件，是因为有人使用此地址申请订阅{org}的月报。"
            "如果不是您本人操作，请忽略本邮件，我们不会再向您发送邮件。"
        ),
        "welcome.subject": "欢迎订阅{org}月报",
        "welcome.heading": "订阅成功",
        "welcome.body": (
            "感谢您的确认。从下一期起，您将每月收到一封只包含您所选主题的月报。"
            "您可以随时调整关注的主题与语言，或一键退订。"
        ),
        "welcome.button": "设置订阅偏好",
        "welcome.why": "您收到本邮件，是因为您确认订阅了{org}的月报。",
        "preferences_link.subject": "您的{org}月报订阅偏好链接",
        "preferences_link.heading": "管理您的订阅",
        "preferences_link.body": (
            "我们收到了发送订阅偏好链接的请求。"
            "点击下方按钮即可修改关注主题与语言、暂停或退订。此链接专属于您，"
            "请勿转发。"
        ),
        "preferences_link.button": "打开订阅偏好",
        "preferences_link.why": (
            "您收到本邮件，"
            "是因为有人在{org}月报网站上为此地址申请了订阅偏好链接。"
            "如果不是您本人操作，可以忽略本邮件。"
        ),
        "email_change.subject": "请确认您订阅{org}月报的新邮箱地址",
        "email_change.heading": "请确认新的邮箱地址",
        "email_change.body": (
            "我们收到了将{org}月报的订阅改为发送至此地址的请求。请点击下方按钮确认；"
            "确认后，月报将发送到此地址，不再发送到原地址。"
        ),
        "email_change.button": "确认新地址",
        "email_change.why": (
            "您收到本邮件，是因为有人在{org}月报的订阅偏好中把邮箱地址改成了此地址。"
            "如果不是您本人操作，请忽略本邮件，订阅不会发生任何变化。"
        ),
        **_mail_strings(
            "password_reset",
            subject="重置{org}月报后台密码",
            heading="重置密码",
            body=(
                "我们收到了重置您后台账户密码的请求。请点击下方按钮设置新密码；"
                "该链接将在短时间内失效。"
            ),
            button="重置密码",
            why=(
                "您收到本邮件，是因为有人为此地址的{org}月报后台账户申请了重置密码。"
                "如果不是您本人操作，请忽略本邮件，您的密码不会改变。"
            ),
        ),
        **_mail_strings(
            "invitation",
            subject="{inviter} 邀请您使用{org}月报后台",
            heading="您受邀使用{org}月报后台",
            body="{inviter} 邀请您以“{role}”身份使用{org}的月报后台 yuebao。",
            about="yuebao 是{org}编写和发送月报的系统：编辑在这里导入每月的报告、"
            "预览并发送给订阅者，管理员在这里管理读者、主题和投递情况。",
            expiry="请点击下方按钮设置您的密码。此链接在 {lifetime}内有效，只能使用一次；"
            "过期后，请让管理员重新发送邀请。",
            button="设置密码",
            why="您收到本邮件，是因为 {inviter} 在{org}月报后台为此地址创建了账户。"
            "如对这封邀请有任何疑问，请直接联系 {inviter}。",
        ),
        "greeting_address": "{address}，您好：",
        "role.editor": "编辑",
        "role.admin": "管理员",
        "lifetime_days": "{count} 天",
        "lifetime_day": "{count} 天",
    },
    "en": {
        "section.policy": "Policy updates",
        "section.industry": "Industry news",
        "section.deals": "Deals",
        "in_chinese": "(in Chinese)",
        "partly_in_chinese": "(partly in Chinese)",
        "report_of": "{org} monthly report",
        "report": "Monthly report",
        "toc": "In this issue",
        "toc_more": "and {count} more",
        "greeting_named": "Dear {name},",
        "greeting_anonymous": "Dear reader,",
        "read_more": "Read more",
        "view_online": "View online",
        "preferences": "Preferences",
        "unsubscribe": "Unsubscribe",
        "links": "Links",
        "colon": ": ",
        "why_edition": "You are receiving this because you subscribed to {report} from {org} "
        "and chose topics covered in this issue.",
        "subject": "{first} | {title}, {month}",
        "preheader": "In this issue: {titles}",
        "preheader_more": "{count} items in this issue, also: {titles}",
        "preheader_count": "{count} items in this issue",
        "list_separator": "; ",
        "system_subtitle": "Monthly report",
        "copy_link": "If the button does not work, copy this link into your browser:",
        "confirm.subject": "Please confirm your subscription to the {org} monthly report",
        "confirm.heading": "Please confirm your subscription",
        "confirm.body": "Thank you for subscribing to the {org} monthly report. Please confirm "
        "with the button below; after that we send you one email a month with only the topics you "
        "chose.",
        "confirm.button": "Confirm subscription",
        "confirm.why": "You are receiving this because someone asked to subscribe this address "
        "to the {org} monthly report. If it was not you, ignore this email and we will not write "
        "again.",
        "welcome.subject": "Welcome to the {org} monthly report",
        "welcome.heading": "You are subscribed",
        "welcome.body": "Thank you for confirming. From the next issue on you will receive one "
        "email a month with only the topics you chose. You can change your topics and language "
        "or unsubscribe at any time.",
        "welcome.button": "Set your preferences",
        "welcome.why": "You are receiving this because you confirmed your subscription to the "
        "{org} monthly report.",
        "preferences_link.subject": "Your preferences link for the {org} monthly report",
        "preferences_link.heading": "Manage your subscription",
        "preferences_link.body": "We received a request to send your preferences link. Use the "
        "button below to change your topics and language, pause or unsubscribe. The link is "
        "personal; please do not forward it.",
        "preferences_link.button": "Open preferences",
        "preferences_link.why": "You are receiving this because someone requested the preferences "
        "link for this address on the {org} report website. If it was not you, ignore this email.",
        "email_change.subject": "Please confirm your new address for the {org} monthly report",
        "email_change.heading": "Please confirm your new address",
        "email_change.body": "We received a request to send the {org} monthly report to this "
        "address. Please confirm with the button below; after that the report comes here and no "
        "longer to the previous address.",
        "email_change.button": "Confirm new address",
        "email_change.why": "You are receiving this because someone changed the address of a "
        "subscription to the {org} monthly report to this one. If it was not you, ignore this "
        "email and nothing will change.",
        **_mail_strings(
            "password_reset",
            subject="Reset your password for the {org} report console",
            heading="Reset your password",
            body="We received a request to reset the password of your console account. Use the "
            "button below to choose a new one; the link expires shortly.",
            button="Reset password",
            why="You are receiving this because someone asked to reset the console password for "
            "this address at {org}. If it was not you, ignore this email; your password stays "
            "the same.",
        ),
        **_mail_strings(
            "invitation",
            subject="{inviter} invited you to the {org} report console",
            heading="You are invited to the {org} report console",
            body="{inviter} has invited you to yuebao, the {org} monthly report console, as "
            "{role}.",
            about="yuebao is where {org} writes and sends its monthly report: editors import each "
            "month's report, preview it and send it to subscribers; admins look after readers, "
            "topics and delivery.",
            expiry="Choose your password with the button below. The link works for {lifetime} "
            "and only once; after that, ask an admin to invite you again.",
            button="Choose your password",
            why="You are receiving this because {inviter} created a console account for this "
            "address at {org}. If you have any question about this invitation, ask {inviter} "
            "directly.",
        ),
        "greeting_address": "Hello {address},",
        "role.editor": "an editor",
        "role.admin": "an admin",
        "lifetime_days": "{count} days",
        "lifetime_day": "{count} day",
    },
}

_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# Han ideographs and what comes with them in Chinese text: radicals, CJK punctuation, kana,
# bopomofo, compatibility ideographs and forms, full-width forms, and the supplementary planes.
_CJK = re.compile(
    "[\u2e80-\u2fdf\u3000-\u30ff\u3100-\u31ff\u3200-\u9fff\uf900-\ufaff"
    "\ufe30-\ufe4f\uff00-\uffef\U00020000-\U0003ffff]"
)


def has_cjk(text: str) -> bool:
    """Whether `text` holds a Chinese (or other CJK) character or full-width punctuation."""
    return _CJK.search(text) is not None


def strings(language: str) -> dict[str, str]:
    """The catalogue of `language`; ValueError for a language we do not write in."""
    try:
        return CATALOGUE[language]
    except KeyError:
        known = list(CATALOGUE)
        raise ValueError(f"unsupported language {language!r}; use one of {known}") from None


def format_month(month: str, language: str) -> str:
    """'2024-07' as '2024年7月' or 'July 2024'."""
    year, _, mon = month.partition("-")
    number = int(mon)
    if language == "en":
        return f"{_MONTHS_EN[number - 1]} {year}"
    return f"{year}年{number}月"


def format_date(day: date, language: str) -> str:
    """A date as '2024年7月24日' or '24 July 2024'."""
    if language == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.year}年{day.month}月{day.day}日"
