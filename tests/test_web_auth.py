"""Signing in and out: hashed passwords, CSRF, lockout, password change."""

from __future__ import annotations

from tests.web_helpers import PASSWORD, app_for, csrf_token, signed_in


def test_login_page_is_vietnamese_with_a_csrf_token(org):
    client = app_for(org).test_client()
    page = client.get("/login").get_data(as_text=True)
    assert "Đăng nhập hệ thống" in page and "Tên đăng nhập" in page and "Mật khẩu" in page
    assert 'name="csrf_token"' in page


def test_login_without_csrf_token_is_refused(org):
    client = app_for(org).test_client()
    response = client.post("/login", data={"username": "hk.motcua", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # still signed out


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(org):
    client = app_for(org).test_client()
    token = csrf_token(client)
    for username in ("hk.motcua", "nobody.here"):
        response = client.post("/login", data={"username": username, "password": "wrong-password",
                                               "csrf_token": token})
        assert response.status_code == 401
        assert "Tên đăng nhập hoặc mật khẩu không đúng" in response.get_data(as_text=True)


def test_five_failures_lock_the_account_even_for_the_right_password(org):
    client = app_for(org).test_client()
    token = csrf_token(client)
    for _ in range(5):
        client.post("/login", data={"username": "hk.motcua", "password": "wrong-password", "csrf_token": token})
    response = client.post("/login", data={"username": "hk.motcua", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 401 and "tạm khoá" in response.get_data(as_text=True)
    org.clock.advance(minutes=16)
    response = client.post("/login", data={"username": "hk.motcua", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_sign_in_and_out(org):
    client = signed_in(org, "hk.motcua")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Hoàng Thị Mai" in home
    token = csrf_token(client, "/password")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/password").status_code == 302


def test_password_change_needs_the_current_password(org):
    client = signed_in(org, "hk.motcua")
    token = csrf_token(client, "/password")
    bad = client.post("/password", data={"current": "nope-nope", "new": "matkhau-moi-2026",
                                         "confirm": "matkhau-moi-2026", "csrf_token": token})
    assert "Mật khẩu hiện tại không đúng" in bad.get_data(as_text=True)
    good = client.post("/password", data={"current": PASSWORD, "new": "matkhau-moi-2026",
                                          "confirm": "matkhau-moi-2026", "csrf_token": token})
    assert good.status_code == 302
    fresh = app_for(org).test_client()
    response = fresh.post("/login", data={"username": "hk.motcua", "password": "matkhau-moi-2026",
                                          "csrf_token": csrf_token(fresh)})
    assert response.status_code == 302


def test_english_switch(org):
    client = app_for(org).test_client()
    client.get("/lang/en?next=/login")
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page
