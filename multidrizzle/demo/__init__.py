"""Demo data with ground truth (:mod:`.datasets`) and the scores of a run against it
(:mod:`.scoring`).  Uses the lower layers, never the session."""
