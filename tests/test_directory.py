"""The organisation directory: loading YAML files, and resolving lanes to units."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from engine.directory import (
    get_jurisdiction,
    get_user,
    load_organisation,
    read_organisation_file,
    resolve_lane,
)
from engine.errors import OrganisationError
from engine.extensions import LaneInfo
from engine.models import Jurisdiction, Unit, User, UserRole
from engine.passwords import verify_password
from tests.lifecycle_helpers import ORG_FILE

TWO_TIER = Path(__file__).parent / "data" / "org-two-tier.yaml"


def load(ctx, document):
    with ctx.db.transaction() as session:
        return load_organisation(session, document)


def load_file(ctx, path):
    return load(ctx, read_organisation_file(path))


def dump(ctx) -> dict[str, list[tuple]]:
    """Every directory row, to show that something changed nothing."""
    with ctx.db.reading() as session:
        return {
            "jurisdictions": [
                (j.id, j.code, j.name, j.level, j.parent_id)
                for j in session.scalars(select(Jurisdiction).order_by(Jurisdiction.id))
            ],
            "units": [
                (u.id, u.code, u.type, u.name, u.jurisdiction_id)
                for u in session.scalars(select(Unit).order_by(Unit.id))
            ],
            "users": [
                (u.id, u.username, u.password_hash, u.full_name, u.email, u.unit_id, u.active)
                for u in session.scalars(select(User).order_by(User.id))
            ],
            "roles": [
                (r.id, r.user_id, r.role) for r in session.scalars(select(UserRole).order_by(UserRole.id))
            ],
        }


def demo_document() -> dict:
    return copy.deepcopy(read_organisation_file(ORG_FILE))


def assert_refused(ctx, document, *fragments: str) -> OrganisationError:
    """Loading ``document`` fails naming every fragment, and writes nothing even if the caller commits."""
    before = dump(ctx)
    with ctx.db.transaction() as session, pytest.raises(OrganisationError) as err:
        load_organisation(session, document)
    text = str(err.value)
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert dump(ctx) == before
    return err.value


# ----------------------------------------------------------------------------- loading


def test_loading_the_demo_creates_the_tree_units_and_users(ctx):
    report = load_file(ctx, ORG_FILE)
    assert report.created == {"jurisdictions": 10, "units": 48, "users": 66}
    assert report.updated == {"jurisdictions": 0, "units": 0, "users": 0}
    with ctx.db.reading() as session:
        city = get_jurisdiction(session, "HN")
        assert (city.level, city.parent) == ("province", None)
        districts = sorted(j.code for j in city.children)
        assert districts == ["BD", "CG", "HK"]
        for district in city.children:
            assert district.level == "district"
            assert len(district.children) == 2
            assert {c.level for c in district.children} == {"commune"}
            assert {u.type for u in district.units} >= {"mot_cua", "lanh_dao", "qldt", "vpdk", "tnmt", "thue"}
        hangbac = get_jurisdiction(session, "HANGBAC")
        assert hangbac.parent.code == "HK"
        assert {u.type for u in hangbac.units} == {"mot_cua", "lanh_dao", "tu_phap", "dia_chinh"}
        clerk = get_user(session, "hk.motcua")
        assert clerk.unit.code == "H26.38.01" and clerk.roles == {"clerk"}
        assert clerk.full_name == "Hoàng Thị Mai"
        assert get_user(session, "hn.quantri").roles == {"admin"}
        assert get_user(session, "hk.qldt.ld").roles == {"leader"}
        for user in session.scalars(select(User)):
            assert user.password_hash.startswith("$argon2id$")
            assert "motcua2026" not in user.password_hash
        assert verify_password(clerk.password_hash, "motcua2026") is True
        assert verify_password(clerk.password_hash, "motcua2025") is False


def test_loading_the_same_file_again_creates_and_changes_nothing(ctx):
    load_file(ctx, ORG_FILE)
    before = dump(ctx)
    report = load_file(ctx, ORG_FILE)
    assert report.created == {"jurisdictions": 0, "units": 0, "users": 0}
    assert report.updated == {"jurisdictions": 0, "units": 0, "users": 0}
    assert "0 created" in report.summary()
    assert dump(ctx) == before  # not even a password re-hashed


def test_an_edited_copy_updates_rows_in_place(ctx, tmp_path):
    load_file(ctx, ORG_FILE)
    before = dump(ctx)
    text = ORG_FILE.read_text(encoding="utf-8")
    edited = text.replace(
        '"Phòng Quản lý đô thị quận Hoàn Kiếm"', '"Phòng Quản lý đô thị và Xây dựng quận Hoàn Kiếm"'
    ).replace(
        'full_name: "Bùi Văn Toàn", unit: "H26.38.03", roles: [specialist]',
        'full_name: "Bùi Văn Toàn", unit: "H26.38.03", roles: [specialist, leader]',
    )
    assert edited.count("Xây dựng quận Hoàn Kiếm") == 1 and "roles: [specialist, leader]" in edited
    copy_file = tmp_path / "org.yaml"
    copy_file.write_text(edited, encoding="utf-8")
    report = load_file(ctx, copy_file)
    assert report.created == {"jurisdictions": 0, "units": 0, "users": 0}
    assert report.updated == {"jurisdictions": 0, "units": 1, "users": 1}
    after = dump(ctx)
    assert after["jurisdictions"] == before["jurisdictions"]
    assert [u[0] for u in after["units"]] == [u[0] for u in before["units"]]  # same rows, same ids
    assert [u[:3] for u in after["users"]] == [u[:3] for u in before["users"]]
    with ctx.db.reading() as session:
        unit = session.scalar(select(Unit).where(Unit.code == "H26.38.03"))
        assert unit.name == "Phòng Quản lý đô thị và Xây dựng quận Hoàn Kiếm"
        assert get_user(session, "hk.qldt.cv").roles == {"specialist", "leader"}
    # and back again: the role is removed
    report = load_file(ctx, ORG_FILE)
    assert report.updated == {"jurisdictions": 0, "units": 1, "users": 1}
    with ctx.db.reading() as session:
        assert get_user(session, "hk.qldt.cv").roles == {"specialist"}


def test_a_changed_password_is_rehashed(ctx):
    load_file(ctx, ORG_FILE)
    document = demo_document()
    entry = next(u for u in document["users"] if u["username"] == "hk.motcua")
    entry["password"] = "mat-khau-moi-2026"
    report = load(ctx, document)
    assert report.updated["users"] == 1
    with ctx.db.reading() as session:
        user = get_user(session, "hk.motcua")
        assert verify_password(user.password_hash, "mat-khau-moi-2026")
        assert not verify_password(user.password_hash, "motcua2026")


def test_an_existing_user_may_omit_the_password(ctx):
    load_file(ctx, ORG_FILE)
    before = dump(ctx)
    document = demo_document()
    for entry in document["users"]:
        del entry["password"]
    report = load(ctx, document)
    assert report.updated["users"] == 0
    assert dump(ctx) == before


def test_a_unit_moved_to_another_jurisdiction_follows(ctx):
    load_file(ctx, ORG_FILE)
    document = demo_document()
    hk = document["jurisdictions"][0]["children"][0]
    bd = document["jurisdictions"][0]["children"][1]
    moved = hk["units"].pop()  # the tax branch of Hoàn Kiếm
    bd["units"].append(moved)
    report = load(ctx, document)
    assert report.updated["units"] == 1
    with ctx.db.reading() as session:
        assert session.scalar(select(Unit).where(Unit.code == moved["code"])).jurisdiction.code == "BD"


# ----------------------------------------------------------------------------- refused files


def test_a_user_of_an_unknown_unit_is_refused_and_nothing_is_written(ctx):
    document = demo_document()
    document["users"][3]["unit"] = "H26.99.99"
    document["users"][7]["unit"] = "KHONG-CO"
    err = assert_refused(ctx, document, "H26.99.99", "KHONG-CO", document["users"][3]["username"])
    assert {p.element_id for p in err.problems} == {
        document["users"][3]["username"],
        document["users"][7]["username"],
    }
    assert dump(ctx) == {"jurisdictions": [], "units": [], "users": [], "roles": []}


def test_a_bad_file_over_a_loaded_one_changes_nothing(ctx):
    load_file(ctx, ORG_FILE)
    document = demo_document()
    document["jurisdictions"][0]["name"] = "Thủ đô Hà Nội"  # a valid change ...
    document["users"].append(
        {"username": "moi", "password": "12345678", "full_name": "Mới", "unit": "X", "roles": ["clerk"]}
    )
    assert_refused(ctx, document, "'X'")  # ... is not applied either


def test_a_new_user_without_password_is_refused_before_anything_is_written(ctx):
    load_file(ctx, ORG_FILE)
    document = demo_document()
    document["jurisdictions"][0]["units"].append({"code": "H26.09", "type": "tu_phap", "name": "Sở Tư pháp"})
    document["users"].append(
        {"username": "hn.tuphap", "full_name": "Lê Văn Tư", "unit": "H26.09", "roles": ["specialist"]}
    )
    assert_refused(ctx, document, "hn.tuphap", "password")


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda d: d["jurisdictions"][0]["children"][1].update(code="HK"), "HK appears twice"),
        (lambda d: d["jurisdictions"][0]["units"].append(dict(d["jurisdictions"][0]["units"][0])), "H26.01 appears twice"),
        (lambda d: d["users"].append(dict(d["users"][0])), "hn.motcua appears twice"),
        (lambda d: d["users"][0].update(roles=["superuser"]), "superuser"),
        (lambda d: d["users"][0].update(roles="clerk"), "hn.motcua has roles"),
        (lambda d: d["users"][0].update(roles=[]), "hn.motcua has roles"),
        (lambda d: d["users"][0].update(password="short"), "at least 8"),
        (lambda d: d["users"][0].update(username="Hoa Hồng"), "invalid username"),
        (lambda d: d["users"][0].pop("full_name"), "no full_name"),
        (lambda d: d["jurisdictions"][0].update(code="HN/1"), "invalid"),
        (lambda d: d["jurisdictions"][0].pop("level"), "has no level"),
        (lambda d: d["jurisdictions"][0]["units"][0].update(type=""), "has no type"),
        (lambda d: d.update(jurisdictions={"code": "HN"}), "'jurisdictions' must be a non-empty list"),
        (lambda d: d.update(jurisdictions=[]), "'jurisdictions' must be a non-empty list"),
        (lambda d: d["jurisdictions"][0].update(units="H26.01"), "must be a list"),
        (lambda d: d["jurisdictions"][0].update(children={"code": "HK"}), "'children' must be a list"),
        (lambda d: d["jurisdictions"][0]["children"].append("BD"), "not a mapping"),
        (lambda d: d["jurisdictions"][0]["units"].append(["H26.09"]), "not a mapping"),
        (lambda d: d.update(users={"hn.motcua": {}}), "'users' must be a list"),
        (lambda d: d["users"].append("hk.motcua"), "not a mapping"),
        (lambda d: d["users"][0].update(full_name="N" * 201), "full_name is longer than 200"),
        (lambda d: d["users"][0].update(email=12345), "email that is not text"),
        (lambda d: d["users"][0].update(email="a@" + "b" * 200 + ".vn"), "email is longer than 200"),
        (lambda d: d["jurisdictions"][0].update(name="Hà Nội " * 40), "name is longer than 200"),
        (lambda d: d["jurisdictions"][0].update(level="x" * 41), "level is longer than 40"),
        (lambda d: d["jurisdictions"][0]["units"][0].update(type="t" * 41), "type is longer than 40"),
    ],
    ids=[
        "dup-jurisdiction", "dup-unit", "dup-user", "unknown-role", "roles-not-list", "no-roles",
        "short-password", "bad-username", "no-full-name", "bad-code", "no-level", "no-type",
        "jurisdictions-mapping", "jurisdictions-empty", "units-text", "children-mapping",
        "child-text", "unit-list", "users-mapping", "user-text", "long-full-name", "email-number",
        "long-email", "long-name", "long-level", "long-type",
    ],
)  # fmt: skip
def test_invalid_documents_are_refused_and_write_nothing(ctx, edit, fragment):
    document = demo_document()
    edit(document)
    assert_refused(ctx, document, fragment)


def test_invalid_yaml_is_reported_with_its_line(tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(
        "jurisdictions:\n  - code: HN\n    name: [Hà Nội\n    level: province\nusers: []\n", encoding="utf-8"
    )
    with pytest.raises(OrganisationError) as err:
        read_organisation_file(path)
    [problem] = err.value.problems
    assert problem.line == 4  # where the parser noticed the unclosed bracket
    assert "expected ',' or ']'" in problem.message  # what is wrong, not only where it was parsing
    assert "YAML" in err.value.message


def test_yaml_with_python_tags_is_refused_without_running_anything(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "org.yaml"
    path.write_text(
        f'jurisdictions: !!python/object/apply:os.system ["touch {marker}"]\nusers: []\n', encoding="utf-8"
    )
    with pytest.raises(OrganisationError) as err:
        read_organisation_file(path)
    assert not marker.exists()
    assert err.value.problems[0].line == 1


@pytest.mark.parametrize("text", ["- just\n- a list\n", "a plain string\n", ""])
def test_a_document_that_is_not_a_mapping_is_refused(tmp_path, text):
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OrganisationError, match="must be a mapping"):
        read_organisation_file(path)


def test_a_missing_or_huge_file_is_refused(tmp_path):
    with pytest.raises(OrganisationError, match="Cannot read"):
        read_organisation_file(tmp_path / "none.yaml")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * 2_000_001 + b"\n")
    with pytest.raises(OrganisationError, match="limit"):
        read_organisation_file(big)


def test_a_self_referencing_jurisdiction_is_refused_quickly(ctx, tmp_path):
    path = tmp_path / "org.yaml"
    path.write_text(
        "jurisdictions:\n  - &a\n    code: X\n    name: X\n    level: province\n    children: [*a]\nusers: []\n",
        encoding="utf-8",
    )
    started = time.monotonic()
    assert_refused(ctx, read_organisation_file(path), "X")
    assert time.monotonic() - started < 5


def test_an_alias_bomb_is_refused_quickly(ctx, tmp_path):
    """Nine levels of ten aliases each would be a billion jurisdictions to walk."""
    lines = ["leaf: &l0 {code: L, name: L, level: commune}"]
    for level in range(1, 10):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"n{level}: &l{level} {{code: N{level}, name: N, level: x, children: [{refs}]}}")
    lines += ["jurisdictions: [*l9]", "users: []"]
    path = tmp_path / "org.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = read_organisation_file(path)
    started = time.monotonic()
    assert_refused(ctx, document, "appears twice")
    assert time.monotonic() - started < 5


# ----------------------------------------------------------------------------- the two-tier model, lanes


def test_the_two_tier_file_loads_and_province_lanes_resolve_from_a_commune(ctx):
    report = load_file(ctx, TWO_TIER)
    assert report.created == {"jurisdictions": 4, "units": 17, "users": 18}
    with ctx.db.reading() as session:
        commune = get_jurisdiction(session, "HOANKIEM")
        assert (commune.level, commune.parent.code) == ("commune", "HN")
        tax = resolve_lane(
            session, commune, LaneInfo("Thuế", "Lane_Thue", unit_type="thue", level="province"), {}
        )
        assert tax.code == "H26.03"
        justice = resolve_lane(
            session, commune, LaneInfo("Tư pháp", "Lane_TuPhap", unit_type="tu_phap", level="commune"), {}
        )
        assert justice.code == "H26.301.03"


def test_the_two_tier_file_loads_over_the_demo_in_place(ctx):
    load_file(ctx, ORG_FILE)
    report = load_file(ctx, TWO_TIER)
    assert report.created["jurisdictions"] == 3  # the three new communes; HN is updated in place
    assert report.updated["units"] == 1  # "Thuế thành phố Hà Nội" renamed
    with ctx.db.reading() as session:
        assert session.scalar(select(Unit).where(Unit.code == "H26.03")).name == "Thuế thành phố Hà Nội"


def test_resolve_lane_explains_a_missing_level(ctx):
    load_file(ctx, TWO_TIER)
    with ctx.db.reading() as session:
        commune = get_jurisdiction(session, "CUANAM")
        lane = LaneInfo("Phòng Quản lý đô thị", "Lane_QLDT", unit_type="qldt", level="district")
        with pytest.raises(OrganisationError) as err:
            resolve_lane(session, commune, lane, {})
    message = err.value.message
    assert "Phòng Quản lý đô thị" in message and "'district'" in message and "Phường Cửa Nam" in message


def test_resolve_lane_explains_a_missing_unit_type(ctx):
    load_file(ctx, ORG_FILE)
    with ctx.db.reading() as session:
        commune = get_jurisdiction(session, "HANGBAC")
        lane = LaneInfo("Công an", "Lane_CongAn", unit_type="cong_an", level="district")
        with pytest.raises(OrganisationError) as err:
            resolve_lane(session, commune, lane, {})
    message = err.value.message
    assert "Công an" in message and "'cong_an'" in message and "Quận Hoàn Kiếm" in message


def test_resolve_lane_takes_the_unit_named_in_the_data(ctx):
    load_file(ctx, ORG_FILE)
    lane = LaneInfo("Đơn vị xử lý", "Lane_XuLy", from_data="don_vi")
    with ctx.db.reading() as session:
        hk = get_jurisdiction(session, "HK")
        assert resolve_lane(session, hk, lane, {"don_vi": "H26.39.03"}).code == "H26.39.03"
        for data, fragment in (
            ({}, "not set"),
            ({"don_vi": 7}, "not set"),
            ({"don_vi": "X.1"}, "does not exist"),
        ):
            with pytest.raises(OrganisationError, match=fragment):
                resolve_lane(session, hk, lane, data)


def test_yaml_round_trip_of_the_demo_is_stable():
    """The demo file parses to plain data (no tags, no aliases needed)."""
    document = read_organisation_file(ORG_FILE)
    assert yaml.safe_load(yaml.safe_dump(document, allow_unicode=True)) == document
