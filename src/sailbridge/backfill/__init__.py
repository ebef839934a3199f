"""Historical backfill through Sailthru's Job API (``sailbridge backfill``, SPEC §9).

Identifies become lines of ``update`` job files, Order Completed lines of
``purchase_import`` job files, both derived from the same pure mapping live delivery
uses (`sailbridge.backfill.lines`). Events with no bulk form are reported and, when
asked, queued for live delivery after the jobs. The input is streamed and the files
are written, uploaded and polled one at a time, with each job recorded in the store
so an interrupted run can be resumed without uploading a file twice.
"""
