"""The admin's "Delete with files": rows, their files and their thumbnails go; the count is reported."""

from __future__ import annotations

from django.conf import settings

from capture.models import Capture
from capture.thumbnails import ensure_thumbnail
from tests.captures import make_row, take

URL = "/admin/capture/capture/"


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def select(*captures: Capture, confirm: bool) -> dict:
    data = {"action": "delete_selected", "_selected_action": [str(c.pk) for c in captures]}
    return {**data, "post": "yes"} if confirm else data


def test_the_action_is_called_delete_with_files(admin_client, db):
    make_row(filename="a.jpg")
    page = admin_client.get(URL).content.decode()
    assert '<option value="delete_selected">Delete with files</option>' in page
    assert "Delete selected captures" not in page


def test_it_asks_first_and_says_files_go_too(admin_client):
    capture = take("jpg")
    response = admin_client.post(URL, select(capture, confirm=False))
    assert response.status_code == 200
    assert "Their files under /uploads and their thumbnails go to the trash too" in response.content.decode()
    assert Capture.objects.filter(pk=capture.pk).exists()
    assert capture.path.exists()


def test_it_deletes_rows_files_and_thumbnails_and_reports_the_count(admin_client):
    jpg, mp4 = take("jpg"), take("mp4")
    failed = make_row(status="failed", filename="")
    thumbnails = [ensure_thumbnail(jpg), ensure_thumbnail(mp4), ensure_thumbnail(mp4, "large")]
    keep = take("jpg", filename="keep.jpg")
    ensure_thumbnail(keep)

    response = admin_client.post(URL, select(jpg, mp4, failed, confirm=True), follow=True)

    assert list(Capture.objects.all()) == [keep]
    assert not jpg.path.exists() and not mp4.path.exists()
    assert not any(path.exists() for path in thumbnails)
    assert keep.path.exists() and ensure_thumbnail(keep).exists()
    assert messages_of(response) == [
        "Moved 2 files and 3 thumbnails to the trash: restorable under Deletions for 7 days.",
        "Successfully deleted 3 captures.",
    ]


def test_a_file_already_gone_is_not_counted(admin_client):
    capture = take("jpg")
    capture.path.unlink()
    response = admin_client.post(URL, select(capture, confirm=True), follow=True)
    assert not Capture.objects.exists()
    assert "Moved 0 files and 0 thumbnails to the trash: restorable under Deletions for 7 days." in messages_of(
        response
    )


def test_running_captures_are_skipped(admin_client, db):
    done = take("jpg")
    running = make_row(status="running", filename="")  # made after: a capture marks older running rows crashed
    response = admin_client.post(URL, select(running, done, confirm=True), follow=True)
    assert list(Capture.objects.all()) == [running]
    assert "Skipped 1 running capture(s): not finished yet." in messages_of(response)


def test_the_capture_page_delete_button_removes_the_file_too(admin_client):
    capture = take("mp4")
    thumbnail = ensure_thumbnail(capture)
    page = admin_client.get(f"{URL}{capture.pk}/delete/").content.decode()
    assert "Its file under /uploads and its thumbnails go to the trash too" in page
    response = admin_client.post(f"{URL}{capture.pk}/delete/", {"post": "yes"}, follow=True)
    assert not Capture.objects.exists()
    assert not capture.path.exists() and not thumbnail.exists()
    assert "Moved 1 file and 1 thumbnail to the trash: restorable under Deletions for 7 days." in messages_of(response)


def test_a_running_capture_has_no_delete_button(admin_client, db):
    running = make_row(status="running", filename="")
    assert admin_client.post(f"{URL}{running.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Capture.objects.filter(pk=running.pk).exists()


def test_a_stored_name_that_is_not_a_plain_file_name_deletes_nothing(admin_client, db):
    outside = settings.MEDIA_ROOT.parent / "precious.txt"
    outside.write_text("keep me")
    row = make_row(filename="../precious.txt")
    admin_client.post(URL, select(row, confirm=True))
    assert not Capture.objects.exists()
    assert outside.read_text() == "keep me"
