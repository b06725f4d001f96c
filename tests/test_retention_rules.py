"""capture.retention.rules: which captures the rules choose (nothing is deleted here).

The settings' rule is the default for every capture; admin rules add more specific ones. Ages: the most
specific rule decides. Sizes: every budget holds. Floors: highest first, each over the captures it covers.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from capture.models import Capture, RetentionRule
from capture.retention import rules
from tests.captures import make_row
from tests.disk import file_row

pytestmark = pytest.mark.django_db


def chosen(doomed) -> list[str]:
    names = dict(Capture.objects.values_list("pk", "filename"))
    return [names[d.capture_id] for d in doomed]


# --- Maximum age ---


def test_the_settings_max_age_chooses_older_captures_oldest_first(settings):
    settings.RETENTION_MAX_AGE_DAYS = 30
    file_row("new.jpg", days_old=1)
    file_row("old.jpg", days_old=40)
    file_row("older.jpg", days_old=50)
    doomed = rules.expired(rules.all_rules(), timezone.now())
    assert chosen(doomed) == ["older.jpg", "old.jpg"]
    assert {d.reason for d in doomed} == {"max-age"}
    assert doomed[0].rule == "settings: max age 30 days"


def test_no_max_age_keeps_everything(settings):
    settings.RETENTION_MAX_AGE_DAYS = 0
    file_row("ancient.jpg", days_old=3000)
    assert rules.expired(rules.all_rules(), timezone.now()) == []


def test_a_rule_per_source_shortens_or_lengthens_the_default(settings):
    settings.RETENTION_MAX_AGE_DAYS = 30
    RetentionRule.objects.create(name="frames", source="schedule", max_age_days=7)
    RetentionRule.objects.create(name="api", source="api", max_age_days=90)
    file_row("frame-10d.jpg", days_old=10, source="schedule")
    file_row("frame-3d.jpg", days_old=3, source="schedule")
    file_row("api-40d.jpg", days_old=40, source="api")
    file_row("api-100d.jpg", days_old=100, source="api")
    file_row("cli-40d.jpg", days_old=40, source="cli")
    doomed = rules.expired(rules.all_rules(), timezone.now())
    assert sorted(chosen(doomed)) == ["api-100d.jpg", "cli-40d.jpg", "frame-10d.jpg"]
    by_name = dict(zip(chosen(doomed), (d.rule for d in doomed), strict=True))
    assert by_name["frame-10d.jpg"].endswith("“frames”: max age 7 days")
    assert by_name["cli-40d.jpg"] == "settings: max age 30 days"


def test_camera_and_source_beats_source_beats_camera():
    RetentionRule.objects.create(name="camera 1", camera_index=1, max_age_days=1)
    RetentionRule.objects.create(name="frames", source="schedule", max_age_days=5)
    RetentionRule.objects.create(name="camera 1 frames", camera_index=1, source="schedule", max_age_days=20)
    all_rules = rules.all_rules()
    assert rules.age_rule_for(1, "schedule", all_rules).max_age_days == 20
    assert rules.age_rule_for(0, "schedule", all_rules).max_age_days == 5
    assert rules.age_rule_for(1, "api", all_rules).max_age_days == 1
    assert rules.age_rule_for(0, "api", all_rules) is None


def test_an_admin_rule_beats_the_settings_and_the_shorter_of_two_equal_rules_wins(settings):
    settings.RETENTION_MAX_AGE_DAYS = 30
    RetentionRule.objects.create(name="everything, longer", max_age_days=60)
    assert rules.age_rule_for(0, "api", rules.all_rules()).max_age_days == 60
    RetentionRule.objects.create(name="everything, shorter", max_age_days=45)
    assert rules.age_rule_for(0, "api", rules.all_rules()).max_age_days == 45


def test_a_disabled_rule_does_not_count(settings):
    RetentionRule.objects.create(name="off", max_age_days=1, enabled=False)
    file_row("old.jpg", days_old=5)
    assert rules.expired(rules.all_rules(), timezone.now()) == []


def test_pinned_and_running_captures_are_never_chosen_by_age(settings):
    settings.RETENTION_MAX_AGE_DAYS = 1
    file_row("pinned.jpg", days_old=10, pinned=True)
    make_row(status="running", filename="", requested_at=timezone.now() - timezone.timedelta(days=10))
    failed = make_row(status="failed", filename="", requested_at=timezone.now() - timezone.timedelta(days=10))
    doomed = rules.expired(rules.all_rules(), timezone.now())
    assert [d.capture_id for d in doomed] == [failed.pk]  # an old failed row goes too: it is history only


def test_the_limit_bounds_one_batch(settings):
    settings.RETENTION_MAX_AGE_DAYS = 1
    for n in range(5):
        file_row(f"{n}.jpg", days_old=10 - n)
    assert chosen(rules.expired(rules.all_rules(), timezone.now(), limit=2)) == ["0.jpg", "1.jpg"]


# --- Maximum total size ---


def test_the_oldest_go_until_the_total_fits_and_the_newest_survive(settings):
    settings.RETENTION_MAX_TOTAL_BYTES = 2500
    for n in range(5):
        file_row(f"{n}.jpg", 1000, days_old=5 - n)  # 0.jpg is the oldest
    doomed = rules.over_budget(rules.all_rules())
    assert chosen(doomed) == ["0.jpg", "1.jpg", "2.jpg"]
    assert doomed[0].rule == "settings: max total 2500 bytes" and doomed[0].reason == "max-total"


def test_pinned_captures_count_against_a_budget_but_stay(settings):
    settings.RETENTION_MAX_TOTAL_BYTES = 2000
    file_row("pinned-old.jpg", 1500, days_old=9, pinned=True)
    file_row("a.jpg", 1000, days_old=5)
    file_row("b.jpg", 1000, days_old=1)
    assert chosen(rules.over_budget(rules.all_rules())) == ["a.jpg", "b.jpg"]


def test_every_budget_holds_each_over_its_own_captures(settings):
    settings.RETENTION_MAX_TOTAL_BYTES = 10_000
    RetentionRule.objects.create(name="frames", source="schedule", max_total_bytes=1500)
    file_row("api-old.jpg", 1000, days_old=9, source="api")
    for n in range(3):
        file_row(f"frame{n}.jpg", 1000, days_old=5 - n, source="schedule")
    assert chosen(rules.over_budget(rules.all_rules())) == ["frame0.jpg", "frame1.jpg"]


def test_captures_already_chosen_count_as_gone(settings):
    settings.RETENTION_MAX_AGE_DAYS = 7
    settings.RETENTION_MAX_TOTAL_BYTES = 2000
    file_row("old.jpg", 1000, days_old=9)
    file_row("a.jpg", 1000, days_old=2)
    file_row("b.jpg", 1000, days_old=1)
    aged = rules.expired(rules.all_rules(), timezone.now())
    assert chosen(aged) == ["old.jpg"]
    assert rules.over_budget(rules.all_rules(), aged) == []


# --- Free-space floor ---


def test_the_oldest_go_until_the_floor_holds_with_room_for_the_capture(settings):
    settings.RETENTION_MIN_FREE_BYTES = 5000
    for n in range(5):
        file_row(f"{n}.jpg", 1000, days_old=5 - n)
    file_row("pinned.jpg", 1000, days_old=10, pinned=True)
    assert rules.for_free_space(rules.all_rules(), free=6000) == []
    assert chosen(rules.for_free_space(rules.all_rules(), free=3500)) == ["0.jpg", "1.jpg"]
    assert chosen(rules.for_free_space(rules.all_rules(), free=3500, need=1000)) == ["0.jpg", "1.jpg", "2.jpg"]
    everything = rules.for_free_space(rules.all_rules(), free=0, need=10**9)
    assert "pinned.jpg" not in chosen(everything) and len(everything) == 5


def test_a_higher_floor_on_some_captures_sacrifices_them_first(settings):
    settings.RETENTION_MIN_FREE_BYTES = 1000
    RetentionRule.objects.create(name="frames", source="schedule", min_free_bytes=4000)
    file_row("api-oldest.jpg", 1000, days_old=9, source="api")
    file_row("frame-a.jpg", 1000, days_old=5, source="schedule")
    file_row("frame-b.jpg", 1000, days_old=4, source="schedule")
    # 2500 free: under the frames' floor (4000) only; frames go, the older API capture stays.
    assert chosen(rules.for_free_space(rules.all_rules(), free=2500)) == ["frame-a.jpg", "frame-b.jpg"]
    # 500 free: even without frames the disk can't reach the frames' floor; once they are gone the settings'
    # floor (1000) holds, so the API capture stays. Only room for a capture makes it go too.
    assert chosen(rules.for_free_space(rules.all_rules(), free=500)) == ["frame-a.jpg", "frame-b.jpg"]
    assert chosen(rules.for_free_space(rules.all_rules(), free=0, need=1500)) == [
        "frame-a.jpg",
        "frame-b.jpg",
        "api-oldest.jpg",
    ]


def test_the_floor_for_a_capture_is_the_highest_among_the_rules_covering_it(settings):
    settings.RETENTION_MIN_FREE_BYTES = 1000
    RetentionRule.objects.create(name="frames", source="schedule", min_free_bytes=4000)
    RetentionRule.objects.create(name="camera 1", camera_index=1, min_free_bytes=2000)
    all_rules = rules.all_rules()
    assert rules.floor_for(0, "schedule", all_rules).min_free_bytes == 4000
    assert rules.floor_for(1, "api", all_rules).min_free_bytes == 2000
    assert rules.floor_for(0, "api", all_rules).label == "settings"
    settings.RETENTION_MIN_FREE_BYTES = 0
    assert rules.floor_for(0, "api", rules.all_rules()) is None
