"""pages._jobs.watched: a refusal with a message for its user is shown in place of the view
(found on the Filters page with a ResNet50 upload, where the index's JobBudgetError was drawn as
a traceback)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def test_a_refused_job_is_shown_as_its_message_and_stops_the_page():
    def script() -> None:
        import streamlit as st

        from core.errors import JobBudgetError
        from pages._jobs import watched

        with watched("Indexing 2000 held-out inputs"):
            raise JobBudgetError(
                "Indexing every filter needs about 2.0 GB at its peak; one job may use 384.0 MB "
                "here (LAYERLAB_JOB_MB)."
            )
        st.write("drawn after the refused job")

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == [
        "Indexing every filter needs about 2.0 GB at its peak; one job may use 384.0 MB here "
        "(LAYERLAB_JOB_MB)."
    ]
    assert not [m for m in at.markdown if "drawn after" in m.value]


def test_a_job_that_never_waits_adds_no_element():
    """A cached result (nothing waits on the pool) draws nothing: every element costs the
    browser on every rerun (issue 35 item 14); a placeholder was one each."""

    def script() -> None:
        import streamlit as st

        from pages._jobs import watched

        st.write("before")
        with watched("Indexing 2000 held-out inputs"):
            pass
        st.write("after")

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.markdown] == ["before", "after"]
    assert not at.get("empty")


def test_a_progress_bar_appears_at_its_first_update_only():
    def script() -> None:
        from pages._jobs import Progress

        quiet, busy = Progress("cached"), Progress("computing")
        busy.progress(0.5, text="1 of 2")
        quiet.empty()

    at = AppTest.from_function(script, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("progress")) == 1
