"""Reading event files: arrays, JSON lines, Segment batches; bad entries stay visible."""

from sailbridge.inputs import read_events


def test_json_lines_keep_good_events_beside_a_bad_line() -> None:
    text = (
        '{"type":"identify","userId":"a"}\nnot json\n\n'
        '{"type":"track","userId":"b","event":"Signed Up"}\n'
    )
    entries = read_events(text)
    assert [e.position for e in entries] == ["line 1", "line 2", "line 4"]
    assert entries[0].event is not None and entries[0].event.user_id == "a"
    assert entries[1].event is None and "malformed JSON" in str(entries[1].error)
    assert entries[2].event is not None and entries[2].event.event == "Signed Up"


def test_json_array_entries_are_numbered_items() -> None:
    entries = read_events('[{"type":"identify","userId":"a"}, {"type":"identify"}]')
    assert entries[0].event is not None
    assert entries[1].position == "item 2"
    assert "needs a userId" in str(entries[1].error)


def test_segment_batch_context_and_integrations_merge_under_each_event() -> None:
    text = (
        '{"batch": [{"type":"identify","userId":"a","context":{"ip":"1.2.3.4"}}],'
        ' "context": {"library": {"name": "x"}, "ip": "0.0.0.0"},'
        ' "integrations": {"Sailthru": false}}'
    )
    [entry] = read_events(text)
    assert entry.event is not None
    assert entry.event.context == {"library": {"name": "x"}, "ip": "1.2.3.4"}
    assert entry.event.integrations == {"Sailthru": False}


def test_single_object_is_one_event() -> None:
    [entry] = read_events('{"type":"page","userId":"a"}')
    assert entry.event is not None and entry.event.type == "page"


def test_empty_input_has_no_entries() -> None:
    assert read_events("  \n") == []
