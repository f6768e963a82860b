"""AccessKeys of ClarityQ's RAM user: create, deliver once to a secret sink, rotate within RAM's 2-key limit.

No Airflow import. Seed 000 step 2 creates a permanent AccessKey by hand and tells the user to copy a
secret that is shown once; here the secret goes from the CreateAccessKey answer straight to a
:class:`~.secret_sinks.SecretSink` (an Airflow connection, by default ``clarityq_reader``) and nowhere
else: ``on_secret`` (Airflow's ``mask_secret``) is called before anything else happens with it, results
carry key IDs only, and error messages never contain a secret.

Two operations (:class:`AccessKeyManager`):

* :meth:`~AccessKeyManager.ensure` (provisioning): do nothing when the sink's key is Active and works;
  otherwise create a key and deliver it. Apart from the housekeeping below (undelivered keys, grace
  periods) it never deactivates or deletes a key.
* :meth:`~AccessKeyManager.rotate`: replace the sink's key, then deactivate every other Active key of
  the user, so at most one key is Active at rest (InfraGuard ``ram-user-activated-ak-quantity-check``).

Order of a replacement, and the state each failure leaves (the next run completes it):

1. **Room**: RAM allows 2 keys per user. With 2, ``on_key_limit="delete_oldest_inactive"`` deletes the
   oldest Inactive key (even inside its grace period) and ``"refuse"`` stops with a message listing the
   keys; with no Inactive key it always refuses. Nothing has changed yet.
2. **Create** the key; ``on_secret`` gets the secret at once.
3. **Verify** it with the health checks ``authentication`` and ``project_accessible`` over the exact
   connection fields that will be delivered, retrying for a while (a new key can take seconds to
   propagate). Failure: the new key is deleted; the sink and the old key are untouched (still Active).
   Verifying before delivery means a key that does not work never reaches a consumer.
4. **Deliver** to the sink (an existing entry keeps its other fields), then read it back. Failure: if
   the read-back shows the write did land, carry on; otherwise delete the new key (or, if RAM refuses,
   deactivate it). If even that fails, or the read-back is impossible, the error names the key, and
   the next run deactivates it: an Active key created after the sink's key is *undelivered* (nothing
   can rely on it), so every run deactivates such keys first (reversible during the grace period).
5. **Deactivate** the old key(s) (rotation only). Failure: the new key is in the sink and works, the old
   one is still Active; the next :meth:`~AccessKeyManager.rotate` sees an Active key older than the
   sink's working key and finishes by deactivating it (action ``completed``) instead of rotating again.
6. **Delete after the grace period**: an Inactive key other than the sink's is deleted once
   ``grace_period`` has passed since the latest of: the sink key's CreateDate, its own CreateDate and its
   last use (GetAccessKeyLastUsed). No extra state is stored: the rotation deactivates the old key
   right after creating and verifying the sink's key, so that CreateDate marks the deactivation, and a
   key used later than that (deactivated by hand, say) gets its grace from its last use. Every run of
   either operation does this housekeeping first, so the deletion completes on the next run after
   the grace period.

Assumptions, stated because rotation deactivates keys: the RAM user is dedicated to ClarityQ (seed 000
step 2) and every consumer reads its key from the sink, so a key that is not in the sink is not relied
on. Only one run at a time (the example DAGs set ``max_active_runs=1``).
"""

from __future__ import annotations
