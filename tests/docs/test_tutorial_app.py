"""The tutorial's own tests of its FastAPI app (docs_src/tutorial/test_*.py), collected here.

They are the example a reader copies, so they run exactly as written, with the
package's pytest plugin providing the server and the database.
"""

from docs_src.tutorial import test_fastapi_app, test_fastapi_app_e2e

api = test_fastapi_app.api
test_transfer_moves_money = test_fastapi_app.test_transfer_moves_money
test_refused_transfer_writes_nothing = test_fastapi_app.test_refused_transfer_writes_nothing
test_account_over_http = test_fastapi_app_e2e.test_account_over_http
test_write_conflict_answers_409_and_writes_nothing = (
    test_fastapi_app.test_write_conflict_answers_409_and_writes_nothing
)
test_unknown_commit_result_is_retried_and_applied_once = (
    test_fastapi_app.test_unknown_commit_result_is_retried_and_applied_once
)
