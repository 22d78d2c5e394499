"""The message editor's photo, buttons and toggles in headless Chromium (Debian's, through
Playwright), against the admin app served as ``chalice local`` serves it, the real Postgres,
moto and the fake Telegram over HTTP: a message job with a photo and URL buttons is created,
previewed as Telegram draws it, sent as a test to the admin's own chat, and seen there in
the fake's chat view. A bad button is pointed at where it was typed.

The photo's URL is public (Telegram must download it); the browser's request for it is
answered from here (Playwright's routing), so nothing leaves the machine.
"""

from __future__ import annotations

import pytest
from admin_helpers import serve_admin, sign_in
from pipeline import add_custom_job, add_users
from psycopg.types.json import Jsonb

from job_scheduler.admin import tokens as admin_tokens

PHOTO = "https://cdn.example.com/menu/week-12.jpg"
# A picture for the browser to show in place of the photo at PHOTO.
PICTURE = """<svg xmlns="http://www.w3.org/2000/svg" width="1280" height="720">
<defs><linearGradient id="sky" x1="0" y1="0" x2="1" y2="1">
<stop offset="0" stop-color="#f7b267"/><stop offset="1" stop-color="#f25c54"/></linearGradient>
</defs><rect width="1280" height="720" fill="url(#sky)"/>
<circle cx="640" cy="380" r="230" fill="#fff8ef"/><circle cx="640" cy="380" r="170" fill="#ffd6a5"/>
<circle cx="590" cy="340" r="48" fill="#8ac926"/><circle cx="700" cy="350" r="40" fill="#ff595e"/>
<circle cx="650" cy="440" r="55" fill="#c97b3d"/>
<text x="640" y="110" font-family="sans-serif" font-size="72" font-weight="700"
 text-anchor="middle" fill="#fff">This week's menu</text></svg>"""


@pytest.fixture
def site(db, database_url, aws, telegram):
    add_users(db, 3)
    db.execute("UPDATE users SET first_name = 'Sara' WHERE telegram_chat_id = 5001")
    more = {"telegram_bot_token": "424242:bot-token-for-the-fake-telegram-0001",
            "telegram_api_url": telegram.base_url}  # fmt: skip
    with serve_admin(database_url, aws, **more) as (url, queues):
        yield url, queues, admin_tokens.create(db, "sara", "test", telegram_user_id=5001)


@pytest.fixture
def photo_served(page):
    page.context.route(PHOTO, lambda route: route.fulfill(
        status=200, content_type="image/svg+xml", body=PICTURE))  # fmt: skip
    return page


def fill_button(page, row: int, column: int, text: str, url: str) -> None:
    cell = page.locator(f"#buttons .button-row >> nth={row}").locator(".button-cell").nth(column)
    cell.locator(".button-text").fill(text)
    cell.locator(".button-url").fill(url)


def open_new_job(page, url: str, token: str) -> None:
    """Signed in, on the new job's form. Signing in renders the jobs twice (the hash change
    and the sign-in both route), so the form opens once both have: else the later one
    could replace it."""
    sign_in(page, url, token)
    page.wait_for_load_state("networkidle")
    page.click("text=New message job")
    page.wait_for_selector("#new-name")


def create_lunch_job(page, url: str, token: str) -> None:
    open_new_job(page, url, token)
    page.fill("#new-name", "weekly-lunch")
    page.fill("#text", "<b>{{ user.first_name }}</b>, this week's menu is out: pick by"
                       " <i>Thursday</i>.")  # fmt: skip
    page.fill("#photo", PHOTO)
    assert page.is_disabled("#link-preview")  # a caption has no link preview
    page.click("#add-button-row")
    fill_button(page, 0, 0, "Open the menu", "https://rastar.example/menu")
    page.click("#buttons .button-row >> nth=0 >> .add-button")
    fill_button(page, 0, 1, "Ask the bot", "tg://resolve?domain=food_bot")
    page.click("#add-button-row")
    fill_button(page, 1, 0, "How picking works", "https://rastar.example/help")
    page.check("#protect-content")
    page.fill("#include", "Sara")
    page.click(".results div >> nth=0")
    page.click("text=Create")
    page.wait_for_selector("h2:has-text('weekly-lunch')")


def test_a_photo_message_with_buttons_is_previewed_as_telegram_draws_it(
    photo_served, site, db, shots
):
    page = photo_served
    url, _, token = site
    create_lunch_job(page, url, token)

    stored = db.execute(
        "SELECT message_config FROM scheduled_jobs WHERE name = 'weekly-lunch'"
    ).fetchone()["message_config"]
    assert stored["photo"] == PHOTO and stored["protect_content"] is True
    assert stored["buttons"] == [
        [{"text": "Open the menu", "url": "https://rastar.example/menu"},
         {"text": "Ask the bot", "url": "tg://resolve?domain=food_bot"}],
        [{"text": "How picking works", "url": "https://rastar.example/help"}],
    ]  # fmt: skip
    assert page.input_value("#photo") == PHOTO  # the editor shows what was saved
    assert page.locator("#buttons .button-cell").count() == 3

    page.click("#preview-button")
    page.wait_for_selector("#preview:has-text('As Sara sees it')")
    image = page.locator("#preview img.preview-photo")
    assert image.get_attribute("src") == PHOTO
    page.wait_for_function("() => document.querySelector('#preview img').naturalWidth > 0")
    assert page.inner_text("#preview .preview-text") == (
        "Sara, this week's menu is out: pick by Thursday."
    )
    rows = page.locator("#preview .preview-row")
    assert rows.count() == 2 and rows.nth(0).locator("a").count() == 2
    assert rows.nth(0).locator("a").nth(0).get_attribute("href") == "https://rastar.example/menu"
    assert "Protected" in page.inner_text("#preview .preview-marks")
    page.evaluate("document.getElementById('toast').hidden = true")
    editor = page.locator("section.card", has=page.locator("#text")).evaluate(
        "card => { const box = card.getBoundingClientRect();"  # in the page, not the viewport
        " return {x: box.x + scrollX, y: box.y + scrollY, width: box.width,"
        " height: box.height}; }"
    )
    page.screenshot(path=str(shots / "message-photo-buttons.png"), full_page=True, clip=editor)


def test_a_test_send_arrives_in_the_fake_chat_with_its_photo_and_buttons(
    photo_served, site, telegram, shots
):
    page = photo_served
    url, _, token = site
    create_lunch_job(page, url, token)

    page.click("#send-test")
    page.wait_for_selector("#toast:has-text('Sent a test to your chat (5001)')")
    [sent] = telegram.messages()
    assert (sent["photo"], sent["protect_content"]) == (PHOTO, True)

    page.goto(f"{telegram.base_url}/_fake?chat=5001")
    page.wait_for_selector("li.theirs img.photo")
    page.wait_for_function("() => document.querySelector('li.theirs img.photo').naturalWidth > 0")
    bubble = page.locator("li.theirs").last
    assert "Sara, this week's menu is out" in bubble.inner_text()
    assert "🔒 protected" in bubble.inner_text()
    assert bubble.locator("a.button").count() == 3
    assert bubble.locator("a.button >> nth=2").get_attribute("href") == (
        "https://rastar.example/help"
    )
    page.set_viewport_size({"width": 900, "height": 760})
    page.screenshot(path=str(shots / "fake-chat-photo.png"))


def test_a_bad_button_is_refused_and_pointed_at(page, site, db):
    url, _, token = site
    open_new_job(page, url, token)
    page.fill("#new-name", "bad-button")
    page.click("#add-button-row")
    fill_button(page, 0, 0, "Menu", "https://rastar.example/menu")
    page.click("#add-button-row")
    page.click("#buttons .button-row >> nth=1 >> .add-button")  # a blank button: dropped
    fill_button(page, 1, 0, "Call us", "tel:+98211234567")
    page.click("text=Create")

    page.wait_for_selector("#new-error:has-text('Row 2, button 1')")
    assert "message.buttons[1][0].url" in page.inner_text("#new-error")
    invalid = page.locator(".invalid")
    assert invalid.count() == 1 and invalid.input_value() == "tel:+98211234567"
    assert page.locator("#buttons .button-cell").count() == 2  # the blank one went
    assert db.execute("SELECT count(*) AS n FROM scheduled_jobs WHERE name = 'bad-button'"
                      ).fetchone()["n"] == 0  # fmt: skip


PAID_LABEL = (
    "Paid broadcast — up to 1,000 messages/s, billed in Telegram Stars for every message over"
    " the free 30/s"
)


def test_a_paid_broadcast_is_off_by_default_says_it_costs_stars_and_is_marked(
    page, site, db, shots
):
    url, _, token = site
    open_new_job(page, url, token)

    assert not page.is_checked("#paid-broadcast")  # off unless ticked
    assert " ".join(page.inner_text(".paid-broadcast label").split()) == PAID_LABEL
    assert page.is_hidden("#paid-cost")
    page.fill("#new-name", "flash-sale")
    page.fill("#text", "<b>{{ user.first_name }}</b>, the flash sale starts now")
    page.check("#paid-broadcast")
    cost = page.inner_text("#paid-cost")
    assert "Costs Telegram Stars: 0.1 Star for every message sent over the free 30" in cost
    assert "paid from the bot's balance" in cost
    page.click("text=Create")
    page.wait_for_selector("h2:has-text('flash-sale')")

    stored = db.execute(
        "SELECT message_config FROM scheduled_jobs WHERE name = 'flash-sale'"
    ).fetchone()["message_config"]
    assert stored["paid_broadcast"] is True
    assert page.inner_text("h2 .badge.paid") == "⭐ paid broadcast"
    assert "Telegram bills the bot 0.1 Stars" in page.inner_text("#paid-note")
    assert page.is_checked("#paid-broadcast")  # the editor shows what was saved
    page.click("#preview-button")
    page.wait_for_selector("#preview .preview-marks")
    assert "Paid broadcast (costs Telegram Stars)" in page.inner_text("#preview .preview-marks")
    editor = page.locator("section.card", has=page.locator("#text"))
    editor.screenshot(path=str(shots / "message-paid-broadcast.png"))

    page.uncheck("#paid-broadcast")
    assert page.is_hidden("#paid-cost")
    page.click("#save-message")
    page.wait_for_selector("#toast:has-text('Message saved')")
    page.wait_for_selector("h2:not(:has(.badge.paid))")
    stored = db.execute(
        "SELECT message_config FROM scheduled_jobs WHERE name = 'flash-sale'"
    ).fetchone()["message_config"]
    assert "paid_broadcast" not in stored


def test_the_jobs_table_marks_paid_broadcasts_only(page, site, db):
    url, _, token = site
    for name, paid in (("flash-sale", True), ("weekly-hello", False)):
        config = {"text": "hi", "parse_mode": None, "silent": False}
        add_custom_job(db, name, message_config=Jsonb(
            {**config, "paid_broadcast": True} if paid else config))  # fmt: skip
    sign_in(page, url, token)

    page.wait_for_selector("tr[data-job='flash-sale']")
    assert page.inner_text("tr[data-job='flash-sale'] .badge.paid") == "⭐ paid broadcast"
    assert page.locator("tr[data-job='weekly-hello'] .badge.paid").count() == 0
    assert "Telegram Stars" in page.get_attribute("tr[data-job='flash-sale'] .badge.paid", "title")
