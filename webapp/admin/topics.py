"""Topics: add, rename, describe, reorder, retire and restore, keyword rules."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from webapp import db
from webapp.admin import bp
from webapp.admin.forms import ButtonForm, MoveForm, NewTopicForm, TopicForm
from webapp.admin.refusals import explain, show_on
from webapp.models import Topic
from webapp.readers.topic_admin import (
    TopicError,
    TopicText,
    all_topics,
    create_topic,
    move_topic,
    parse_keywords,
    readers_of,
    set_retired,
    update_topic,
)
from webapp.stats.figures import topic_popularity


def _topic(topic_id: int) -> Topic:
    topic = db.session().get(Topic, topic_id)
    if topic is None:
        abort(404)
    return topic


def _text(form: TopicForm) -> TopicText:
    return TopicText(
        name_zh=form.name_zh.data or "",
        name_en=form.name_en.data or "",
        description_zh=form.description_zh.data or "",
        description_en=form.description_en.data or "",
        keywords=parse_keywords(_keywords_text(form.keywords.data)),
    )


def _keywords_text(value: object) -> str:
    """The keywords box's text; a submit without the box keeps the stored list (the form is
    made from the topic), which must not be parsed as text."""
    if isinstance(value, list | tuple):
        return "\n".join(str(word) for word in value)
    return str(value or "")


@bp.route("/topics", methods=["GET", "POST"])
def topics() -> str | Response:
    session = db.session()
    form = NewTopicForm()
    if form.validate_on_submit():
        try:
            topic = create_topic(session, form.slug.data or "", _text(form), actor=current_user)
        except TopicError as error:
            session.rollback()
            show_on(form, error, "slug")
        else:
            session.commit()
            flash(_("Topic added."), "ok")
            return redirect(url_for("admin.topic", topic_id=topic.id))
    readers = {topic.id: count for topic, count in topic_popularity(session)}
    return render_template(
        "admin/topics.html",
        topics=all_topics(session),
        readers=readers,
        form=form,
        button=ButtonForm(),
    )


@bp.route("/topics/<int:topic_id>", methods=["GET", "POST"])
def topic(topic_id: int) -> str | Response:
    session = db.session()
    row = _topic(topic_id)
    form = TopicForm(obj=row)  # the posted fields win over the stored ones
    if not form.is_submitted():
        form.keywords.data = "\n".join(row.keywords or [])
    if form.validate_on_submit():
        try:
            changed = update_topic(session, row, _text(form), actor=current_user)
        except TopicError as error:
            session.rollback()
            show_on(form, error, "name_zh")
        else:
            session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "ok")
            return redirect(url_for("admin.topic", topic_id=row.id))
    readers, only = readers_of(session, row)
    return render_template(
        "admin/topic.html", topic=row, form=form, readers=readers, only=only, button=ButtonForm()
    )


@bp.route("/topics/<int:topic_id>/move", methods=["POST"])
def topic_move(topic_id: int) -> Response:
    session = db.session()
    row = _topic(topic_id)
    form = MoveForm()
    if form.validate_on_submit():
        move_topic(session, row, -1 if form.direction.data == "up" else 1, actor=current_user)
        session.commit()
    return redirect(url_for("admin.topics"))


@bp.route("/topics/<int:topic_id>/retire", methods=["POST"])
def topic_retire(topic_id: int) -> Response:
    return _set_retired(topic_id, True)


@bp.route("/topics/<int:topic_id>/restore", methods=["POST"])
def topic_restore(topic_id: int) -> Response:
    return _set_retired(topic_id, False)


def _set_retired(topic_id: int, retired: bool) -> Response:
    session = db.session()
    row = _topic(topic_id)
    if ButtonForm().validate_on_submit():
        try:
            set_retired(session, row, retired, actor=current_user)
        except TopicError as error:
            session.rollback()
            flash(explain(error), "error")
        else:
            session.commit()
            flash(
                _("The topic is retired: it left the subscribe and preferences forms.")
                if retired
                else _("The topic is back on the forms."),
                "ok",
            )
    return redirect(url_for("admin.topic", topic_id=topic_id))
