"""The one-time Rastar link page, in Chromium: served by the admin app as ``chalice local``
serves it, against the test Postgres, the fake Rastar and the fake Telegram."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from admin_helpers import serve_admin
from pipeline import add_users

from job_scheduler.config import Settings
from job_scheduler.rastar import accounts, linking
from job_scheduler.rastar.crypto import SecretBox

TOKEN = "123456789:TEST-token-for-the-fake-telegram-server"
EMAIL, PASSWORD = "sara@rastar.test", "a-password-never-logged-7731"


@pytest.fixture
def site(database_url, aws, rastar, telegram):
    key = SecretBox.new_key()
    more = {
        "rastar_supabase_url": rastar.base_url,
        "rastar_supabase_anon_key": rastar.anon_key,
        "rastar_encryption_keys": key,
        "telegram_bot_token": TOKEN,
        "telegram_api_url": telegram.base_url,
    }
    with serve_admin(database_url, aws, **more) as (url, _):
        yield url, SecretBox([key])


@pytest.fixture
def link(db, site, rastar):
    """A person (chat 5000, Persian), their account in Rastar, and a fresh link for them."""
    url, _ = site
    (user,) = add_users(db, 1)
    rastar.add_account(EMAIL, PASSWORD)
    made = linking.create_link(db, Settings(link_page_url=f"{url}/link"), user)
    return user, made


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fa-IR")
    yield context.new_page()
    context.close()


def sign_in(page, email: str, password: str) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_signing_in_links_the_account_and_telegram_says_which(
    db, site, link, page, telegram, log_lines
):
    user, url = link
    _, box = site

    page.goto(url)
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("h1").inner_text() == "اتصال حساب رستار"
    assert "۵ تلاش باقی مانده" in page.inner_text("main")
    sign_in(page, EMAIL, PASSWORD)

    assert f"حساب رستار شما ({EMAIL}) وصل شد." in page.inner_text(".done")
    assert accounts.linked_as(db, box, user) == EMAIL
    (told,) = telegram.messages()
    assert told["chat_id"] == 5000 and EMAIL in told["visible_text"]
    assert PASSWORD not in log_lines.getvalue() and PASSWORD not in page.content()
    rows = db.execute("SELECT * FROM rastar_link_states").fetchall()
    assert PASSWORD not in str([dict(row) for row in rows])


def test_a_wrong_password_shows_the_form_again_with_the_reason(db, link, page, rastar):
    user, url = link

    page.goto(url)
    sign_in(page, EMAIL, "not it")

    assert "رستار این ایمیل یا رمز عبور را نپذیرفت" in page.inner_text("[role=alert]")
    assert "۴ تلاش باقی مانده" in page.inner_text("main")
    assert page.input_value("#email") == EMAIL and page.input_value("#password") == ""
    assert accounts.accounts_of(db, [user]) == {}
    sign_in(page, EMAIL, PASSWORD)  # the form still works
    assert EMAIL in page.inner_text(".done")


def test_the_sixth_try_is_refused(db, link, page, rastar):
    user, url = link
    page.goto(url)
    for _ in range(linking.MOST_TRIES - 1):
        sign_in(page, EMAIL, "guess")
        assert page.is_visible("#password")

    sign_in(page, EMAIL, "guess")  # the fifth: the last try

    assert "۵ بار امتحان شده" in page.inner_text("[role=alert]")
    assert not page.is_visible("#password")
    page.goto(url)
    assert "۵ بار امتحان شده" in page.inner_text("[role=alert]")
    answer = httpx.post(url.split("?")[0], data={"state": url.split("state=")[1],
                        "email": EMAIL, "password": PASSWORD})  # fmt: skip
    assert answer.status_code == 410 and accounts.accounts_of(db, [user]) == {}
    assert rastar.stats()["calls"]["token_password"] == linking.MOST_TRIES


def test_a_used_link_says_so(db, link, page):
    _, url = link
    page.goto(url)
    sign_in(page, EMAIL, PASSWORD)

    page.goto(url)

    assert "این لینک قبلاً استفاده شده است." in page.inner_text("[role=alert]")
    assert "/link" in page.inner_text("main") and not page.is_visible("#password")


def test_an_expired_link_says_so_and_opening_a_link_changes_nothing(db, link, page):
    _, url = link
    page.goto(url)
    page.reload()
    assert "۵ تلاش باقی مانده" in page.inner_text("main")  # two GETs spent nothing
    db.execute("UPDATE rastar_link_states SET expires_at = %s",
               (datetime.now(UTC) - timedelta(seconds=1),))  # fmt: skip

    answer = page.goto(url)

    assert answer.status == 410
    assert "این لینک منقضی شده است." in page.inner_text("[role=alert]")


def test_the_page_speaks_english_to_english_speakers_and_switches(db, link, page):
    user, url = link
    db.execute("UPDATE users SET language_code = 'en' WHERE id = %s", (user,))

    page.goto(url)
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert page.locator("h1").inner_text() == "Link your Rastar account"
    page.click("a.switch")
    assert page.locator("html").get_attribute("dir") == "rtl"
    page.click("a.switch")
    sign_in(page, EMAIL, "wrong")
    assert "Rastar did not accept that email or password" in page.inner_text("[role=alert]")
    assert "4 tries left" in page.inner_text("main")


def test_an_unknown_link_and_a_bad_form_get_a_page_not_an_error(site):
    url, _ = site

    unknown = httpx.get(f"{url}/link?state=nothing-like-it")
    empty = httpx.get(f"{url}/link")
    garbage = httpx.post(f"{url}/link", content=b"\xff\xfe" * 10,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip

    assert unknown.status_code == 404 and "این لینک شناخته نیست." in unknown.text
    assert empty.status_code == 404 and garbage.status_code == 404
    csp = unknown.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert unknown.headers["referrer-policy"] == "no-referrer"
    assert unknown.headers["cache-control"] == "no-store"
    assert not re.search(r"<script", unknown.text)


def test_rastar_down_asks_to_try_later_and_spends_no_try(db, link, page, rastar):
    _, url = link
    rastar.configure(server_error_until=datetime.now(UTC).timestamp() + 60)

    page.goto(url)
    sign_in(page, EMAIL, PASSWORD)

    assert "رستار الان پاسخ نمی‌دهد" in page.inner_text("[role=alert]")
    assert "۵ تلاش باقی مانده" in page.inner_text("main")
