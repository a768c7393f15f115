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
