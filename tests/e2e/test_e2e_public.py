"""Sign-in and the public lookup in a real browser."""

from __future__ import annotations

from tests.e2e.conftest import shot, sign_in
from tests.helpers import receive_permit


def test_login_page_and_wrong_password_in_vietnamese(page, live_server):
    page.goto(f"{live_server}/login")
    assert page.locator("h1").inner_text() == "Đăng nhập hệ thống"
    shot(page, "login")
    page.fill("input[name=username]", "hk.motcua")
    page.fill("input[name=password]", "sai-mat-khau")
    page.click("button[type=submit]")
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in page.locator(".alert-danger").inner_text()


def test_signed_in_clerk_sees_name_and_unit(page, live_server):
    sign_in(page, live_server, "hk.motcua")
    assert "Hoàng Thị Mai" in page.locator("nav").inner_text()
    shot(page, "home-clerk")


def test_public_lookup_shows_progress(page, live_server, deployed):
    code = receive_permit(deployed)
    page.goto(f"{live_server}/tra-cuu")
    page.fill("#ma", code)
    page.fill("#sdt", "5678")
    page.click("button[type=submit]")
    body = page.locator("main").inner_text()
    assert "Đang giải quyết" in body and "Phòng Quản lý đô thị quận Hoàn Kiếm" in body
    assert "Trần Văn Bình" not in body
    shot(page, "lookup-found")
