"""An `Outcome` as pandas DataFrames for notebooks: the document's PCRs beside the image's, the
certificate chain, and the document's fields. Texts from the document are shown escaped."""

from __future__ import annotations

import pandas as pd

from eifdiff.attest.outcome import Outcome
from eifdiff.attest.render import blob_text, shown_pcrs
from eifdiff.escape import terminal

PCR_COLUMNS = ["pcr", "expected", "image", "equal", "sections", "meaning"]


def pcrs(o: Outcome, *, all_pcrs: bool = False) -> pd.DataFrame:
    """One row per PCR: the expected (document) value, the image's, whether they are equal,
    the sections feeding it and what that means. Without an image, the document's PCRs (PCR0-4,
    PCR8 and any other non-zero one; every one with `all_pcrs`)."""
    if o.explanation is not None:
        rows = [{"pcr": r.pcr, "expected": r.expected, "image": r.image, "equal": r.equal,
                 "sections": ", ".join(r.sections), "meaning": r.meaning}
                for r in o.explanation.rows]
        return pd.DataFrame(rows, columns=PCR_COLUMNS)
    values = o.expectation.pcrs
    doc = o.document
    keys = ([f"PCR{i}" for i in shown_pcrs(doc)] if doc is not None and not all_pcrs
            else list(values))
    rows = [{"pcr": k, "expected": values[k], "image": None, "equal": None, "sections": "",
             "meaning": "zero" if set(values[k]) == {"0"} else ""} for k in keys]
    return pd.DataFrame(rows, columns=PCR_COLUMNS)


def chain(o: Outcome) -> pd.DataFrame:
    """The certificate chain as checked, root first, each with its validity at the document's
    time."""
    cols = ["role", "where", "subject", "issuer", "not_before", "not_after",
            "valid_at_document_time", "sha256"]
    v = o.verification
    if v is None:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame([{
        "role": c.role, "where": c.where, "subject": terminal(c.subject),
        "issuer": terminal(c.issuer), "not_before": pd.Timestamp(c.not_before),
        "not_after": pd.Timestamp(c.not_after), "valid_at_document_time":
        c.valid_at_document_time, "sha256": c.sha256} for c in v.chain], columns=cols)


def fields(o: Outcome) -> pd.DataFrame:
    """The verdict, the verification and the document's claims, one row each."""
    rows: list[tuple[str, object]] = [("verdict", o.verdict), ("exit code", o.exit_code),
                                      ("expected from", f"{o.expectation.kind}: "
                                       f"{terminal(o.expectation.source)}")]
    d = o.document
    if d is not None:
        rows += [("module id", terminal(d.module_id)), ("time", pd.Timestamp(d.time)),
                 ("digest", terminal(d.digest)), ("encoding", d.encoding),
                 ("debug mode", d.debug_mode)]
        rows += [(n, blob_text(getattr(d, n))) for n in ("public_key", "user_data", "nonce")]
    v = o.verification
    if v is not None:
        rows += [("verified", v.verified), ("algorithm", v.algorithm),
                 ("signature verifies", v.signature_ok), ("root", "pinned AWS Nitro root"
                  if v.root.pinned else terminal(v.root.source)),
                 ("chain starts at the root", v.root_ok), ("chain links", v.chain_ok),
                 ("valid at the document's time", v.times_ok),
                 ("leaf expired since", v.leaf_expired_now)]
        rows += [("failure", terminal(f)) for f in v.failures]
    if o.image is not None:
        rows += [("image", terminal(o.image.path)), ("image signed", o.image.signed)]
    if o.explanation is not None:
        rows.append(("summary", o.explanation.summary))
    return pd.DataFrame(rows, columns=["field", "value"])
